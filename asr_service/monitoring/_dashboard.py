"""The dashboard page: one self-contained HTML file (inline SVG drawing, no library, no network).

It polls `/api/timeseries` every 2 s (`?refresh_ms=` changes it) and draws, over the last 5 minutes:
latency p50/p95 against the budget line, requests per second, null rate (and the share of results
without text for clips the client VAD judged speech), input volume and clip
length against the baseline's p10-p90 band, and the alarms. Each plot's `<svg>` carries
`data-points` (points drawn) so that a test can check that it shows data.
"""

from __future__ import annotations

__all__ = ["DASHBOARD_HTML"]

DASHBOARD_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ASR server monitoring</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:18px;margin:0 0 4px} #meta{color:#666;margin-bottom:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
.card h2{font-size:14px;margin:0 0 4px} svg{width:100%;height:180px}
.axis{stroke:#bbb;stroke-width:1} .lbl{font-size:10px;fill:#666}
.s0{stroke:#1f77b4;fill:none;stroke-width:2} .s1{stroke:#d62728;fill:none;stroke-width:2}
.budget{stroke:#ff7f0e;stroke-dasharray:6 4;stroke-width:1.5} .band{fill:#2ca02c;opacity:.15}
.median{stroke:#2ca02c;stroke-dasharray:3 3} .dot{fill:#1f77b4}
#alarms li.active{color:#b00;font-weight:bold} #alarms li{margin:2px 0}
</style></head><body>
<h1>ASR server monitoring</h1><div id="meta">loading...</div>
<div class="grid">
<div class="card"><h2>Latency p50 (blue) / p95 (red), ms, vs budget (dashed)</h2>
<svg id="plot-latency" data-points="0"></svg></div>
<div class="card"><h2>Requests per second</h2><svg id="plot-rps" data-points="0"></svg></div>
<div class="card"><h2>Null rate (blue) / null on speech the VAD heard (red)</h2>
<svg id="plot-null" data-points="0"></svg></div>
<div class="card"><h2>Input volume (mean RMS dBFS) vs baseline p10-p90</h2>
<svg id="plot-volume" data-points="0"></svg></div>
<div class="card"><h2>Clip length (mean s) vs baseline p10-p90</h2><svg id="plot-duration" data-points="0"></svg></div>
<div class="card"><h2>Alarms</h2><ul id="alarms" data-active="0"></ul></div>
</div>
<script>
"use strict";
const NS = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(location.search);
const REFRESH_MS = Number(params.get("refresh_ms") || 2000);
const SPAN_S = Number(params.get("span_s") || 300), STEP_S = Number(params.get("step_s") || 5);
function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function plot(id, t0, t1, series, opts) {
  const svg = document.getElementById(id);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = svg.clientWidth || 460, H = svg.clientHeight || 180, L = 44, R = 8, T = 8, B = 18;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  let vals = [];
  series.forEach(s => s.pts.forEach(p => vals.push(p[1])));
  (opts.extra || []).forEach(v => { if (v !== null && v !== undefined) vals.push(v); });
  let lo = Math.min(...vals, opts.min === undefined ? Infinity : opts.min);
  let hi = Math.max(...vals, opts.max === undefined ? -Infinity : opts.max);
  if (!isFinite(lo) || !isFinite(hi)) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { hi = lo + 1; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const x = t => L + (W - L - R) * (t - t0) / Math.max(t1 - t0, 1);
  const y = v => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  el("line", {x1: L, y1: T, x2: L, y2: H - B, class: "axis"}, svg);
  el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"}, svg);
  [lo + pad, hi - pad].forEach(v => {
    const t = el("text", {x: 2, y: y(v) + 3, class: "lbl"}, svg); t.textContent = (+v.toPrecision(3)).toString();
  });
  const lt = el("text", {x: L, y: H - 4, class: "lbl"}, svg); lt.textContent = "-" + Math.round(t1 - t0) + " s";
  if (opts.band) el("rect", {x: L, width: W - L - R, y: y(opts.band[1]),
                              height: Math.max(1, y(opts.band[0]) - y(opts.band[1])), class: "band"}, svg);
  if (opts.median !== undefined && opts.median !== null)
    el("line", {x1: L, x2: W - R, y1: y(opts.median), y2: y(opts.median), class: "median"}, svg);
  if (opts.budget) el("line", {x1: L, x2: W - R, y1: y(opts.budget), y2: y(opts.budget), class: "budget",
                               "data-budget": opts.budget}, svg);
  let drawn = 0;
  series.forEach((s, i) => {
    if (!s.pts.length) return;
    const d = s.pts.map((p, j) => (j ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join("");
    el("path", {d: d, class: "s" + i + " series", "data-points": s.pts.length, "data-name": s.name}, svg);
    if (s.pts.length === 1) el("circle", {cx: x(s.pts[0][0]), cy: y(s.pts[0][1]), r: 3, class: "dot"}, svg);
    drawn += s.pts.length;
  });
  svg.setAttribute("data-points", drawn);
}
function pts(points, key) {
  return points.filter(p => p[key] !== null && p[key] !== undefined).map(p => [p.t, p[key]]);
}
function band(b) { return b && b.p10 !== undefined ? [b.p10, b.p90] : null; }
function render(data) {
  const P = data.points, t1 = data.now, t0 = t1 - data.span_s;
  const busy = P.filter(p => p.requests > 0);
  plot("plot-latency", t0, t1, [{name: "p50", pts: pts(busy, "latency_p50_ms")},
                                {name: "p95", pts: pts(busy, "latency_p95_ms")}],
       {budget: data.budget_ms, extra: [data.budget_ms], min: 0});
  plot("plot-rps", t0, t1, [{name: "rps", pts: pts(P, "requests_per_s")}], {min: 0});
  plot("plot-null", t0, t1, [{name: "null rate", pts: pts(busy, "null_rate")},
                             {name: "null on speech", pts: pts(busy, "null_on_speech_rate")}], {min: 0, max: 0.1});
  const bv = (data.baseline || {}).rms_dbfs, bd = (data.baseline || {}).duration_s;
  plot("plot-volume", t0, t1, [{name: "mean RMS", pts: pts(busy, "mean_rms_dbfs")}],
       {band: band(bv), median: bv ? bv.p50 : null, extra: bv ? [bv.p10, bv.p90] : []});
  plot("plot-duration", t0, t1, [{name: "mean length", pts: pts(busy, "mean_duration_s")}],
       {band: band(bd), median: bd ? bd.p50 : null, extra: bd ? [bd.p10, bd.p90] : [], min: 0});
  const ul = document.getElementById("alarms"); ul.innerHTML = "";
  const alarms = data.alarms.alarms;
  alarms.forEach(a => {
    const li = document.createElement("li");
    li.className = a.active ? "active" : "";
    li.setAttribute("data-alarm", a.alarm);
    const v = a.value === null ? "n/a" : (+a.value.toPrecision(4));
    li.textContent = (a.active ? "FIRING " : "ok ") + a.alarm + " = " + v + " " + a.unit +
                     " (fires " + (a.direction === "above" ? ">" : "<") + " " + a.fire_at + ")";
    ul.appendChild(li);
  });
  ul.setAttribute("data-active", data.alarms.active.length);
  const total = P.reduce((n, p) => n + p.requests, 0);
  document.getElementById("meta").textContent = "model " + (data.model_version || "(loading)") + " (" + data.role +
    ") | " + total + " requests in the last " + data.span_s + " s | active alarms: " +
    (data.alarms.active.join(", ") || "none") + " | updated " + new Date(data.now * 1000).toLocaleTimeString();
  document.body.setAttribute("data-updated", String(data.now));
}
async function refresh() {
  try {
    const r = await fetch("/api/timeseries?span_s=" + SPAN_S + "&step_s=" + STEP_S, {cache: "no-store"});
    render(await r.json());
  } catch (e) {
    document.getElementById("meta").textContent = "cannot reach the server: " + e;
  }
  setTimeout(refresh, REFRESH_MS);
}
refresh();
</script></body></html>
"""
