// Shared by both pages: the access token (kept in sessionStorage, sent as
// `Authorization: Bearer`), JSON requests that turn a problem+json answer
// into an error carrying its detail, a reader of server-sent events over
// fetch (EventSource cannot send the Authorization header, and a token in
// a URL would end up in logs and history), and value formatting.
"use strict";

const api = (() => {
  const TOKEN_KEY = "tcu-twin-token";

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function headers(extra) {
    const h = Object.assign({}, extra);
    const t = token();
    if (t) h.Authorization = "Bearer " + t;
    return h;
  }

  // An Error with the problem's detail, status and body.
  async function problem(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // Not JSON: the status line says enough.
    }
    const what = body && (body.detail || body.title);
    const e = new Error(response.status + " " + (what || response.statusText));
    e.status = response.status;
    e.problem = body;
    return e;
  }

  // Sends a request; resolves to {body, etag}, rejects with a problem error.
  async function request(method, path, body, extraHeaders) {
    const init = { method, headers: headers(Object.assign({ Accept: "application/json" }, extraHeaders)), cache: "no-store" };
    if (body !== undefined) init.body = JSON.stringify(body);
    const r = await fetch(path, init);
    if (!r.ok) throw await problem(r);
    return { body: await r.json(), etag: r.headers.get("ETag") };
  }

  // Splits a byte stream into server-sent events and hands each to dispatch.
  async function readEvents(stream, dispatch) {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let ev = { event: "message", data: [], id: "" };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, "");
        buffer = buffer.slice(nl + 1);
        if (line === "") {
          if (ev.data.length) dispatch({ event: ev.event, data: ev.data.join("\n"), id: ev.id });
          ev = { event: "message", data: [], id: ev.id };
          continue;
        }
        if (line.startsWith(":")) continue; // a keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? "" : line.slice(colon + 1);
        if (v.startsWith(" ")) v = v.slice(1);
        if (field === "data") ev.data.push(v);
        else if (field === "event") ev.event = v;
        else if (field === "id") ev.id = v;
      }
    }
  }

  // Follows the event stream at path, reconnecting with a growing pause;
  // handlers maps an event name to a function of its parsed JSON data, and
  // onState gets ("live" | "reconnecting" | "error", message).
  function stream(path, handlers, onState) {
    let pause = 500;
    const dispatch = (ev) => {
      const h = handlers[ev.event];
      if (!h) return;
      try {
        h(JSON.parse(ev.data));
      } catch (e) {
        console.error("handling a " + ev.event + " event:", e);
      }
    };
    (async () => {
      for (;;) {
        try {
          const r = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), cache: "no-store" });
          if (!r.ok) throw await problem(r);
          onState("live", "");
          pause = 500;
          await readEvents(r.body, dispatch);
          onState("reconnecting", "the stream ended");
        } catch (e) {
          onState("error", e.message);
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, 10000);
      }
    })();
  }

  // Shows the stream's state in #stream-state and its errors in #status.
  function showStreamState(state, message) {
    const el = document.getElementById("stream-state");
    el.dataset.state = state;
    el.textContent = state;
    document.getElementById("status").textContent = message ? "live updates: " + message : "";
  }

  // The token form: a new token is kept for this tab and the page reloads.
  function tokenForm() {
    const form = document.getElementById("token-form");
    const input = document.getElementById("token");
    const state = document.getElementById("token-state");
    state.textContent = token() ? "a token is set" : "no token";
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
      else sessionStorage.removeItem(TOKEN_KEY);
      location.reload();
    });
  }

  // A value for a table cell: numbers with at most three decimals.
  function format(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return String(Math.round(v * 1000) / 1000);
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  return { token, request, stream, showStreamState, tokenForm, format };
})();

api.tokenForm();
