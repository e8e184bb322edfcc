// The vehicle page's captures panel: the vehicle's captures
// (/api/vehicles/{vin}/captures) with their rule, trigger, size and
// whether every chunk is in, each complete one linked to its file (fetched
// with the access token, then saved). The list is read again when the
// vehicle's document changes (a chunk that arrives changes it), at most
// once every two seconds.
"use strict";

const capturesView = (() => {
  const REFRESH_MS = 2000;
  let path = "";
  let last = 0;
  let timer = null;
  let busy = false;

  function say(message) {
    document.getElementById("captures-message").textContent = message;
  }

  function size(bytes) {
    if (bytes >= 1 << 20) return (bytes / (1 << 20)).toFixed(1) + " MiB";
    if (bytes >= 1 << 10) return (bytes / (1 << 10)).toFixed(1) + " KiB";
    return bytes + " B";
  }

  // Saves the capture's file: fetched with the token, which a plain link
  // could not send.
  async function save(e) {
    e.preventDefault();
    const a = e.currentTarget;
    try {
      const headers = api.token() ? { Authorization: "Bearer " + api.token() } : {};
      const r = await fetch(a.href, { headers, cache: "no-store" });
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      const url = URL.createObjectURL(await r.blob());
      const tmp = document.createElement("a");
      tmp.href = url;
      tmp.download = a.download;
      tmp.click();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      say("could not fetch the capture: " + err.message);
    }
  }

  function row(c) {
    const tr = document.createElement("tr");
    tr.dataset.id = c.id;
    tr.dataset.complete = String(c.complete);
    const cells = [
      ["rule", c.rule],
      ["received", c.received],
      ["trigger", "tick " + c.trigger_tick + " (" + api.format(c.trigger_t) + " s)"],
      ["size", size(c.bytes)],
      ["complete", c.complete ? "yes" : c.chunks_received + " of " + c.chunks + " chunks"],
    ];
    for (const [name, value] of cells) {
      const td = document.createElement("td");
      td.dataset.col = name;
      td.textContent = value;
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    td.dataset.col = "file";
    if (c.complete) {
      const a = document.createElement("a");
      a.href = path + "/" + encodeURIComponent(c.id);
      a.download = "capture-" + c.vin + "-" + c.id.slice(0, 12) + ".trace";
      a.textContent = c.id.slice(0, 12);
      a.addEventListener("click", save);
      td.appendChild(a);
    }
    tr.appendChild(td);
    return tr;
  }

  async function load() {
    if (busy) return;
    busy = true;
    last = Date.now();
    try {
      const { body } = await api.request("GET", path);
      const tbody = document.querySelector("#captures tbody");
      tbody.replaceChildren(...body.captures.slice().reverse().map(row));
      say(body.captures.length ? "" : "no captures yet");
    } catch (err) {
      say("could not list the captures: " + err.message);
    } finally {
      busy = false;
    }
  }

  // Reads the list again soon (at most once every REFRESH_MS).
  function changed() {
    if (timer) return;
    const wait = Math.max(0, last + REFRESH_MS - Date.now());
    timer = setTimeout(() => {
      timer = null;
      load();
    }, wait);
  }

  function start(vin) {
    path = "/api/vehicles/" + encodeURIComponent(vin) + "/captures";
    load();
  }

  return { start, changed };
})();
