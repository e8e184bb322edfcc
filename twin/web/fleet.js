// The fleet table: loaded from /api/vehicles and kept live by the
// `vehicle` events of /api/stream. Rows are updated in place, keyed by
// data-vin; each VIN links to its vehicle page.
"use strict";

(() => {
  const body = document.querySelector("#fleet tbody");
  const COLUMNS = [
    ["connectivity", (v) => v.connectivity],
    ["speed", (v) => api.format(v.speed)],
    ["state-of-charge", (v) => api.format(v.state_of_charge)],
    ["plugins", (v) => Object.entries(v.plugins || {}).map(([n, ver]) => n + " " + ver).join(", ")],
    ["ota", (v) => api.format(v.ota_state)],
    ["loss", (v) => losses(v.loss)],
    ["last-seen", (v) => api.format(v.last_seen)],
  ];

  function losses(l) {
    if (!l) return "";
    return "silent " + l.silent_lost + ", dropped " + l.reported_dropped + ", invalid " + l.invalid;
  }

  function newRow(vin) {
    const tr = document.createElement("tr");
    tr.dataset.vin = vin;
    const td = document.createElement("td");
    td.dataset.col = "vin";
    const a = document.createElement("a");
    a.href = "/vehicle.html?vin=" + encodeURIComponent(vin);
    a.textContent = vin;
    td.appendChild(a);
    tr.appendChild(td);
    for (const [name] of COLUMNS) {
      const c = document.createElement("td");
      c.dataset.col = name;
      tr.appendChild(c);
    }
    // Keep the rows sorted by VIN.
    const after = Array.from(body.rows).find((r) => r.dataset.vin > vin);
    body.insertBefore(tr, after || null);
    return tr;
  }

  function render(v) {
    const tr = body.querySelector('tr[data-vin="' + CSS.escape(v.vin) + '"]') || newRow(v.vin);
    // The list and the stream may cross: never go back to an older version.
    if (Number(tr.dataset.version) > v.version) return;
    tr.dataset.version = v.version;
    tr.dataset.connectivity = v.connectivity;
    for (const [name, value] of COLUMNS) {
      tr.querySelector('td[data-col="' + name + '"]').textContent = value(v);
    }
    tr.querySelector('td[data-col="speed"]').classList.add("num");
    tr.querySelector('td[data-col="state-of-charge"]').classList.add("num");
  }

  async function load() {
    try {
      const { body: list } = await api.request("GET", "/api/vehicles");
      (list.vehicles || []).forEach(render);
    } catch (e) {
      document.getElementById("status").textContent = "could not load the fleet: " + e.message;
    }
    api.stream("/api/stream", { vehicle: render }, api.showStreamState);
  }

  load();
})();
