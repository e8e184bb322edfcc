// The history charts of the vehicle page: a picker of the reported
// numeric signals, a time range ending at the vehicle's newest report,
// and a chart per chosen signal from /api/vehicles/{vin}/history,
// downsampled to about 300 buckets; redrawn every few seconds.
"use strict";

const historyView = (() => {
  const BUCKETS = 300;
  const REFRESH_MS = 3000;
  const picker = document.getElementById("chart-signals");
  const status = document.getElementById("chart-status");
  const charts = document.getElementById("charts");
  let vin = "";
  let newest = 0; // ms of the vehicle's newest report
  let busy = false;

  // Offers every numeric or boolean reported signal; Vehicle.Speed is
  // chosen when it first appears and nothing else is.
  function offer(reported) {
    for (const [path, r] of Object.entries(reported || {})) {
      const ts = Date.parse(r.ts);
      if (ts > newest) newest = ts;
      if (typeof r.value !== "number" && typeof r.value !== "boolean") continue;
      if (picker.querySelector('option[value="' + CSS.escape(path) + '"]')) continue;
      const o = document.createElement("option");
      o.value = path;
      o.textContent = path;
      o.selected = path === "Vehicle.Speed" && !picker.selectedOptions.length;
      const after = Array.from(picker.options).find((x) => x.value > path);
      picker.insertBefore(o, after || null);
    }
  }

  function figure(signal) {
    let f = charts.querySelector('figure[data-signal="' + CSS.escape(signal) + '"]');
    if (!f) {
      f = document.createElement("figure");
      f.className = "chart";
      f.dataset.signal = signal;
      f.appendChild(document.createElement("figcaption")).textContent = signal;
      charts.appendChild(f);
    }
    return f;
  }

  async function draw() {
    const chosen = Array.from(picker.selectedOptions).map((o) => o.value);
    if (busy || !vin || !newest) return;
    if (!chosen.length) {
      status.textContent = "choose a signal to draw";
      return;
    }
    busy = true;
    try {
      const range = Number(document.getElementById("chart-range").value);
      const step = Math.max(1000, Math.ceil(range / BUCKETS));
      const to = newest + step;
      const from = to - range;
      const q = new URLSearchParams();
      chosen.forEach((s) => q.append("signal", s));
      q.set("from", String(from));
      q.set("to", String(to));
      q.set("step", String(step));
      q.set("agg", document.getElementById("chart-agg").value);
      const { body } = await api.request("GET", "/api/vehicles/" + encodeURIComponent(vin) + "/history?" + q);
      for (const f of Array.from(charts.children)) {
        if (!chosen.includes(f.dataset.signal)) f.remove();
      }
      for (const signal of chosen) {
        const points = (body.signals[signal] || []).map((p) => ({ t: Date.parse(p.t), value: p.value }));
        const f = figure(signal);
        const old = f.querySelector("svg");
        const svg = chart.draw(signal, points, from, to);
        if (old) f.replaceChild(svg, old);
        else f.appendChild(svg);
      }
      status.textContent = "buckets of " + step / 1000 + " s, up to " + new Date(to).toISOString();
    } catch (e) {
      status.textContent = "could not load the history: " + e.message;
    } finally {
      busy = false;
    }
  }

  function start(forVin) {
    vin = forVin;
    document.getElementById("chart-form").addEventListener("submit", (e) => {
      e.preventDefault();
      draw();
    });
    picker.addEventListener("change", draw);
    setInterval(() => {
      if (!document.hidden) draw();
    }, REFRESH_MS);
  }

  return { start, offer, draw };
})();
