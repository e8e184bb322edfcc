// The fleet table: loaded from /api/vehicles, kept current by /api/stream.
"use strict";

const rows = new Map();

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  return td;
}

function render(v) {
  const tr = document.createElement("tr");
  tr.dataset.vin = v.vin;
  const plugins = Object.entries(v.plugins || {}).map(([n, ver]) => n + " " + ver).join(", ");
  [v.vin, v.connectivity, v.speed, v.state_of_charge, plugins, v.ota_state, v.loss ? v.loss.silent_lost : ""]
    .forEach((x) => tr.appendChild(cell(x)));
  const body = document.querySelector("#fleet tbody");
  const old = rows.get(v.vin);
  if (old) {
    body.replaceChild(tr, old);
  } else {
    body.appendChild(tr);
  }
  rows.set(v.vin, tr);
}

async function load() {
  const status = document.getElementById("status");
  try {
    const r = await fetch("/api/vehicles");
    const list = await r.json();
    (list.vehicles || []).forEach(render);
    status.textContent = "";
  } catch (e) {
    status.textContent = "could not load the fleet: " + e;
  }
  const es = new EventSource("/api/stream");
  es.addEventListener("vehicle", (e) => render(JSON.parse(e.data)));
}

load();
