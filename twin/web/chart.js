// A line chart of one signal's history as hand-drawn SVG: the series as
// one path (a gap where a bucket has no value), the value range on the
// left, the time range below. Booleans are drawn as 0 and 1.
"use strict";

const chart = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 600, H = 180, LEFT = 60, RIGHT = 8, TOP = 8, BOTTOM = 22;

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function numeric(v) {
    if (typeof v === "number") return v;
    if (typeof v === "boolean") return v ? 1 : 0;
    return null;
  }

  function clock(ms) {
    return new Date(ms).toISOString().slice(11, 19);
  }

  // Draws points ([{t: ms, value}]) over [from, to] into a new <svg>.
  function draw(signal, points, from, to) {
    const svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": signal });
    const xy = points.map((p) => [p.t, numeric(p.value)]).filter(([t]) => t >= from && t <= to);
    const values = xy.map(([, v]) => v).filter((v) => v !== null);
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!values.length) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    const x = (t) => LEFT + ((t - from) / Math.max(1, to - from)) * (W - LEFT - RIGHT);
    const y = (v) => TOP + (1 - (v - lo) / (hi - lo)) * (H - TOP - BOTTOM);
    let d = "", pen = false, drawn = 0;
    for (const [t, v] of xy) {
      if (v === null) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1) + " ";
      pen = true;
      drawn += 1;
    }
    svg.appendChild(el("line", { class: "axis", x1: LEFT, y1: TOP, x2: LEFT, y2: H - BOTTOM }));
    svg.appendChild(el("line", { class: "axis", x1: LEFT, y1: H - BOTTOM, x2: W - RIGHT, y2: H - BOTTOM }));
    svg.appendChild(el("text", { x: LEFT - 4, y: TOP + 10, "text-anchor": "end" }, api.format(hi)));
    svg.appendChild(el("text", { x: LEFT - 4, y: H - BOTTOM, "text-anchor": "end" }, api.format(lo)));
    svg.appendChild(el("text", { x: LEFT, y: H - 6 }, clock(from)));
    svg.appendChild(el("text", { x: W - RIGHT, y: H - 6, "text-anchor": "end" }, clock(to)));
    const line = el("path", { class: "line", d: d.trim() });
    line.dataset.points = String(drawn);
    svg.appendChild(line);
    if (!drawn) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no samples in this range"));
    }
    return svg;
  }

  return { draw };
})();
