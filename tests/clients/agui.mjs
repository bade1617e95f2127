// The official @ag-ui/client HttpAgent against the hosted router's /v1/agui.
// Usage: node agui.mjs BASE_URL API_KEY; prints one JSON object of what it saw.
import { HttpAgent } from "@ag-ui/client";

const [baseURL, apiKey] = process.argv.slice(2);
const agent = new HttpAgent({
  url: `${baseURL}/v1/agui`,
  headers: { Authorization: `Bearer ${apiKey}` },
  threadId: "node-thread",
});

const types = [];
const subscriber = { onEvent: ({ event }) => void types.push(event.type) };
agent.addMessage({ id: "u1", role: "user", content: '/tool lookup {"city": "Lima"}' });
const first = await agent.runAgent({ forwardedProps: { model: "echo/echo-1" } }, subscriber);

agent.addMessage({ id: "u2", role: "user", content: "/recall" });
const second = await agent.runAgent({ forwardedProps: { model: "echo/echo-1" } });

// Pauses past the router's heartbeat: SSE comments between events.
agent.addMessage({ id: "u3", role: "user", content: "/slow 0.3 late words" });
const third = await agent.runAgent({ forwardedProps: { model: "echo/echo-1" } });

const reloaded = new HttpAgent({
  url: `${baseURL}/v1/agui`,
  headers: { Authorization: `Bearer ${apiKey}` },
  threadId: "node-thread",
});
await reloaded.runAgent({ forwardedProps: { model: "echo/echo-1" } });

console.log(
  JSON.stringify({
    types,
    first: first.newMessages.map((m) => ({ role: m.role, content: m.content ?? null })),
    second: second.newMessages.map((m) => m.content ?? null),
    third: third.newMessages.map((m) => m.content ?? null),
    state: agent.state,
    reloaded: reloaded.messages.map((m) => m.role),
  }),
);
