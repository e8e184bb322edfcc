// The vehicle page (/vehicle.html?vin=): the document, kept live by the
// `document` events of /api/vehicles/{vin}/stream: reported values, the
// desired values with each command's state and reason, and a form that
// patches one desired value with If-Match; a refused patch shows the
// problem's detail. The fault panel lists the injectable faults
// (/api/faults), injects or heals one through /api/vehicles/{vin}/commands
// and shows the vehicle's answer; the active codes come from the reported
// Vehicle.Diagnostics.DTCList. The captures panel is captures.js's; it
// reads its list again on every document change.
"use strict";

(() => {
  const vin = new URLSearchParams(location.search).get("vin") || "";
  const path = "/api/vehicles/" + encodeURIComponent(vin);
  let version = -1;
  let desiredVersion = null;

  function text(id, value) {
    document.getElementById(id).textContent = api.format(value);
  }

  // Makes tbody's rows one per key of entries (sorted, keyed by
  // data-path) and fills their cells with cells(value).
  function table(tbody, entries, cells) {
    const keys = Object.keys(entries).sort();
    for (const tr of Array.from(tbody.rows)) {
      if (!(tr.dataset.path in entries)) tr.remove();
    }
    keys.forEach((key, i) => {
      let tr = tbody.querySelector('tr[data-path="' + CSS.escape(key) + '"]');
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.path = key;
        const td = document.createElement("td");
        td.dataset.col = "path";
        td.textContent = key;
        tr.appendChild(td);
        tbody.insertBefore(tr, tbody.rows[i] || null);
      }
      cells(tr, entries[key]);
    });
  }

  function cell(tr, name, value) {
    let td = tr.querySelector('td[data-col="' + name + '"]');
    if (!td) {
      td = document.createElement("td");
      td.dataset.col = name;
      tr.appendChild(td);
    }
    td.textContent = api.format(value);
    return td;
  }

  function render(doc) {
    // Desired versions only grow; a 412's document may be newer than the
    // stream's last one.
    if (desiredVersion === null || doc.desired_version > desiredVersion) desiredVersion = doc.desired_version;
    if (doc.version < version) return;
    version = doc.version;
    text("vin", doc.vin);
    const conn = document.getElementById("connectivity");
    conn.textContent = doc.connectivity;
    conn.dataset.connectivity = doc.connectivity;
    text("doc-version", doc.version);
    text("last-seen", doc.last_seen);
    text("plugins", Object.entries(doc.plugins || {}).map(([n, v]) => n + " " + v).join(", "));
    text("ota", doc.ota && doc.ota.state);
    table(document.querySelector("#reported tbody"), doc.reported || {}, (tr, r) => {
      cell(tr, "value", r.value).classList.add("num");
      cell(tr, "ts", r.ts);
      cell(tr, "seq", r.seq).classList.add("num");
    });
    table(document.querySelector("#desired tbody"), doc.desired || {}, (tr, d) => {
      cell(tr, "value", d.value).classList.add("num");
      cell(tr, "state", d.state);
      tr.dataset.state = d.state;
      cell(tr, "reason", d.reason);
      cell(tr, "command", d.command_id);
    });
    offerPaths(doc);
    const dtcs = (doc.reported || {})["Vehicle.Diagnostics.DTCList"];
    const list = dtcs && Array.isArray(dtcs.value) ? dtcs.value : [];
    text("dtc-list", list.length ? list.join(", ") : "none");
    historyView.offer(doc.reported);
    capturesView.changed();
  }

  // Fills the fault selector: one option per injectable fault.
  async function loadFaults() {
    const select = document.getElementById("fault-name");
    try {
      const { body } = await api.request("GET", "/api/faults");
      for (const f of body.faults) {
        const o = document.createElement("option");
        o.value = f.subsystem + " " + f.name;
        o.textContent = f.code + " " + f.subsystem + " " + f.name + ": " + f.description;
        select.appendChild(o);
      }
    } catch (err) {
      sayFault("error", "could not list the faults: " + err.message, err.status);
    }
  }

  function sayFault(kind, message, status) {
    const el = document.getElementById("fault-message");
    el.dataset.kind = kind;
    el.dataset.status = status ? String(status) : "";
    el.textContent = message;
  }

  async function sendFault(e) {
    e.preventDefault();
    const value = e.submitter && e.submitter.value === "0" ? 0 : 1;
    const [subsystem, name] = document.getElementById("fault-name").value.split(" ");
    sayFault("", "sending…");
    try {
      const { body } = await api.request("POST", path + "/commands", { subsystem, name, value }, { "Content-Type": "application/json" });
      const why = body.errors ? ": " + Object.values(body.errors).join("; ") : "";
      const kind = body.status === "rejected" ? "error" : "ok";
      sayFault(kind, subsystem + " " + name + "=" + value + ": " + body.status + why, 200);
    } catch (err) {
      sayFault("error", err.message, err.status);
    }
  }

  // Suggests the paths the document knows for the setpoint form.
  function offerPaths(doc) {
    const list = document.getElementById("setpoint-paths");
    const known = new Set(Array.from(list.options).map((o) => o.value));
    const paths = Object.keys(doc.desired || {}).concat(Object.keys(doc.reported || {}));
    for (const p of paths) {
      if (known.has(p)) continue;
      known.add(p);
      const o = document.createElement("option");
      o.value = p;
      list.appendChild(o);
    }
  }

  // The typed value: JSON when it parses (numbers, true, false), else text.
  function typed(raw) {
    try {
      return JSON.parse(raw);
    } catch (_) {
      return raw;
    }
  }

  function say(kind, message, status) {
    const el = document.getElementById("setpoint-message");
    el.dataset.kind = kind;
    el.dataset.status = status ? String(status) : "";
    el.textContent = message;
  }

  async function submit(e) {
    e.preventDefault();
    const target = document.getElementById("setpoint-path").value.trim();
    const value = typed(document.getElementById("setpoint-value").value.trim());
    const headers = { "Content-Type": "application/merge-patch+json" };
    if (desiredVersion !== null) headers["If-Match"] = '"' + desiredVersion + '"';
    say("", "sending…");
    try {
      const { body } = await api.request("PATCH", path + "/desired", { [target]: value }, headers);
      render(body);
      const d = (body.desired || {})[target];
      say("ok", target + " = " + api.format(value) + ": " + (d ? d.state : "sent"), 200);
    } catch (err) {
      let message = err.message;
      if (err.status === 412 && err.problem && err.problem.current) {
        render(err.problem.current);
        message += " (the page now shows the current desired state; set it again if still wanted)";
      }
      say("error", message, err.status);
    }
  }

  async function load() {
    if (!vin) {
      document.getElementById("status").textContent = "no vehicle: open /vehicle.html?vin=<VIN>";
      return;
    }
    document.title = "tcu-twin: " + vin;
    document.getElementById("setpoint-form").addEventListener("submit", submit);
    document.getElementById("fault-form").addEventListener("submit", sendFault);
    loadFaults();
    historyView.start(vin);
    capturesView.start(vin);
    try {
      const { body } = await api.request("GET", path);
      render(body);
      historyView.draw();
    } catch (e) {
      document.getElementById("status").textContent = "could not load " + vin + ": " + e.message;
    }
    api.stream(path + "/stream", { document: render }, api.showStreamState);
  }

  load();
})();
