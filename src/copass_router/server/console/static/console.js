// The console's only script: the live views. It builds elements with textContent, never HTML,
// so nothing a run says can become markup.
"use strict";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function summary(event) {
  switch (event.type) {
    case "run_started": return event.provider + " / " + event.model + " · session " + event.session_id;
    case "text_delta": case "thinking_delta": return event.text;
    case "message": return (event.role || "assistant") + ": " + event.text;
    case "tool_call": return event.name + " " + JSON.stringify(event.arguments);
    case "tool_result": return event.name + (event.is_error ? " (error): " : ": ") + event.output;
    case "usage": return (event.input_tokens || 0) + " in / " + (event.output_tokens || 0) + " out";
    case "error": return event.code + ": " + event.message;
    case "failover": return event.from_provider + " → " + event.to_provider + " (" + event.code + ")";
    case "run_finished": return "stop reason: " + event.stop_reason;
    default: return JSON.stringify(event);
  }
}

function followRun() {
  const list = document.getElementById("events");
  const source = list && list.dataset.source;
  if (!source) return;
  const status = document.getElementById("run-status");
  const text = document.getElementById("run-text-body");
  const meta = document.getElementById("run-meta");
  const stream = new EventSource(source);
  stream.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const item = el("li", null, event.type);
    item.dataset.type = event.type;
    item.appendChild(el("span", event.type, "type"));
    item.appendChild(el("span", summary(event)));
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
    if (event.type === "run_started") {
      meta.textContent = event.provider + " / " + event.model + " · ";
      const session = el("a", "session " + event.session_id.slice(0, 16));
      session.href = "/console/sessions/" + encodeURIComponent(event.session_id) +
        "?u=" + encodeURIComponent(list.dataset.owner || "");
      meta.appendChild(session);
    }
    if (event.type === "text_delta") text.textContent += event.text;
    if (event.type === "run_finished") {
      stream.close();
      status.textContent = "ended: " + event.stop_reason;
      status.className = "status " + event.stop_reason;
      const form = document.getElementById("cancel-form");
      if (form) form.remove();
    }
  };
  stream.onerror = () => {
    if (stream.readyState === EventSource.CLOSED) status.textContent = "no longer followed";
  };
}

function refreshRuns() {
  const body = document.getElementById("runs-body");
  if (!body) return;
  const link = (href, label) => { const a = el("a"); a.href = href; a.appendChild(el("code", label)); return a; };
  const tick = async () => {
    try {
      const answer = await fetch("/console/runs.json", { credentials: "same-origin" });
      if (!answer.ok) return;
      const data = await answer.json();
      const rows = data.runs.map((run) => {
        const tr = el("tr");
        tr.dataset.run = run.run_id;
        const first = el("td");
        first.appendChild(link("/console/runs/" + encodeURIComponent(run.run_id), run.run_id.slice(0, 16)));
        tr.appendChild(first);
        for (const value of [run.provider, run.model, run.tenant || "–", run.end_user]) tr.appendChild(el("td", value));
        const worker = el("td"); worker.appendChild(el("code", run.worker_id)); tr.appendChild(worker);
        tr.appendChild(el("td", run.started_at));
        return tr;
      });
      if (!rows.length) {
        const tr = el("tr", null, "empty");
        const td = el("td", "Nothing is running.", "muted"); td.colSpan = 7; tr.appendChild(td);
        rows.push(tr);
      }
      body.replaceChildren(...rows);
    } catch (_) { /* the next tick tries again */ }
  };
  setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", () => { followRun(); refreshRuns(); });
