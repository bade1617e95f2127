// The official openai npm package against the hosted router's /v1/responses.
// Usage: node responses.mjs BASE_URL API_KEY; prints one JSON object of what it saw.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0 });

const created = await client.responses.create({ model: "echo/echo-1", input: "hello from node" });

const types = [];
let streamed = "";
const stream = await client.responses.create({
  model: "echo/echo-1",
  input: "/recall",
  previous_response_id: created.id,
  stream: true,
});
for await (const event of stream) {
  types.push(event.type);
  if (event.type === "response.output_text.delta") streamed += event.delta;
}

const background = await client.responses.create({
  model: "echo/echo-1",
  input: "/slow 0.3 a b c", // pauses past the heartbeat
  background: true,
});
const resumed = [];
for await (const event of await client.responses.retrieve(background.id, {
  stream: true,
  starting_after: 2,
})) {
  resumed.push(event.sequence_number);
}
const finished = await client.responses.retrieve(background.id);

let error = null;
try {
  await client.responses.create({ model: "nope/x", input: "hi" });
} catch (caught) {
  error = { status: caught.status, code: caught.code ?? caught.error?.code };
}

console.log(
  JSON.stringify({
    created: { status: created.status, text: created.output_text, usage: created.usage },
    streamed: { types, text: streamed },
    background: { status: background.status, resumed, finished: finished.status },
    error,
  }),
);
