// The monitoring dashboard: polls /api/timeseries and draws it with uPlot (vendored beside this file,
// no network). Every panel has a time axis with ticks, a unit on its value axis, the baseline's
// p10-p90 band and median where the server has a drift baseline, the alarm limits that apply to it,
// and a clear "no data" state. Each panel's element carries data-points (values drawn) and
// data-state ("data" or "no-data") for tests.
"use strict";

const params = new URLSearchParams(location.search);
const REFRESH_MS = Number(params.get("refresh_ms") || 2000);
const SPAN_S = Number(params.get("span_s") || 300);
const STEP_S = Number(params.get("step_s") || 5);
const COLORS = ["#1f77b4", "#d62728", "#9467bd"];

// key: field of a point; band: baseline feature; lines(data): threshold lines; min/max: fixed ends;
// minSpan: the least the value axis shows, so a small wobble does not fill the panel; when: the count
// that says a step has data (requests by default).
const PANELS = [
  {id: "latency", title: "Server time per clip", unit: "ms", min: 0, minSpan: 100,
   series: [["latency_p50_ms", "p50, all clips"], ["latency_p95_ms", "p95, all clips"],
            ["judged_latency_p95_ms", "p95, clips the budget is for"]],
   lines: d => [{v: d.budget_ms, label: "budget " + d.budget_ms + " ms", color: "#ff7f0e", cls: "budget"},
                alarmLine(d, "latency_p95")]},
  {id: "rps", title: "Requests per second", unit: "requests/s", min: 0, minSpan: 1, everyStep: true,
   series: [["requests_per_s", "requests/s"]], lines: () => []},
  {id: "null", title: "Results without text", unit: "share of results", min: 0, minSpan: 0.1,
   series: [["null_rate", "null rate"], ["null_on_speech_rate", "null on speech the VAD heard"]],
   lines: d => [alarmLine(d, "null_rate"), baselineLine(d, "null_rate", "baseline null rate")]},
  {id: "confidence", title: "Confidence of results with text", unit: "confidence / share", min: 0, max: 1,
   band: "confidence",
   series: [["mean_confidence", "mean confidence"], ["low_confidence_share", "share under the low cut"]],
   lines: d => [alarmLine(d, "mean_confidence"), alarmLine(d, "low_confidence")]},
  {id: "volume", title: "Input volume (mean clip RMS)", unit: "dBFS", minSpan: 20, band: "rms_dbfs",
   series: [["mean_rms_dbfs", "mean RMS"]],
   lines: d => [alarmLine(d, "input_volume_low"), alarmLine(d, "input_volume_high")]},
  {id: "duration", title: "Clip length (mean)", unit: "s", min: 0, minSpan: 2, band: "duration_s",
   series: [["mean_duration_s", "mean length"]], lines: () => []},
  {id: "speech", title: "Client VAD speech ratio (mean)", unit: "share of the clip", min: 0, max: 1,
   band: "speech_ratio", series: [["mean_speech_ratio", "mean speech ratio"]], lines: () => []},
  {id: "pitch", title: "Voice pitch (mean median F0)", unit: "Hz", minSpan: 60, band: "pitch_hz",
   series: [["mean_pitch_hz", "mean pitch"]], lines: () => []},
  {id: "wps", title: "Words per second (results with text)", unit: "words/s", min: 0, minSpan: 1,
   band: "words_per_s", series: [["mean_words_per_s", "mean words/s"]], lines: () => []},
  {id: "feedback", title: "Users' feedback (ReportFeedback)", unit: "share of reports", min: 0, minSpan: 0.2,
   when: "feedback_reports",
   series: [["feedback_retried_share", "spoke again"], ["feedback_switched_to_typing_share", "switched to typing"],
            ["feedback_edited_share", "edited the text"]],
   lines: d => [alarmLine(d, "feedback_retried"), alarmLine(d, "feedback_switched_to_typing")]},
];

function alarmOf(d, name) { return (d.alarms.alarms || []).find(a => a.alarm === name); }

function alarmLine(d, name) {
  const a = alarmOf(d, name);
  if (!a || a.status === "no_data") return null;  // a limit for an empty window means nothing
  return {v: a.fire_at, label: name + " fires " + (a.direction === "above" ? ">" : "<") + " " + fmt(a.fire_at),
          color: "#b00", cls: "limit"};
}

function baselineLine(d, feature, label) {
  const b = (d.baseline || {})[feature];
  return b && b.mean !== undefined ? {v: b.mean, label: label, color: "#2ca02c", cls: "baseline"} : null;
}

function fmt(v) { return v === null || v === undefined ? "n/a" : (+Number(v).toPrecision(3)).toString(); }

function card(panel) {
  const div = document.createElement("div");
  div.className = "card";
  div.id = "plot-" + panel.id;
  div.setAttribute("data-points", "0");
  div.setAttribute("data-state", "no-data");
  div.innerHTML = "<h2></h2><div class='chart'></div><div class='nodata'>no data in this window</div>";
  div.querySelector("h2").textContent = panel.title + " (" + panel.unit + ")";
  document.getElementById("grid").appendChild(div);
  return div;
}

function makeChart(panel, el) {
  const state = {t0: 0, t1: 1, lines: [], band: null, median: null};
  const width = () => Math.max(300, el.querySelector(".chart").clientWidth);
  const opts = {
    width: width(), height: 190, legend: {show: true},
    cursor: {drag: {x: false, y: false}},
    scales: {
      x: {time: true, range: () => [state.t0, state.t1]},
      y: {range: (u, lo, hi) => yRange(panel, state, lo, hi)},
    },
    series: [{label: "time"}, ...panel.series.map(([, label], i) => ({
      label: label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false,
      points: {show: true, size: 4}, value: (u, v) => v === null ? "-" : fmt(v) + " " + panel.unit,
    }))],
    axes: [{label: "time"}, {label: panel.unit, size: 56}],
    hooks: {
      drawClear: [u => {  // behind the series: the baseline band and median
        if (!state.band) return;
        const ctx = u.ctx, b = u.bbox;
        const y0 = u.valToPos(state.band[1], "y", true), y1 = u.valToPos(state.band[0], "y", true);
        ctx.save();
        ctx.fillStyle = "rgba(44,160,44,0.14)";
        ctx.fillRect(b.left, y0, b.width, y1 - y0);
        ctx.restore();
      }],
      draw: [u => {  // over the series: limits, budget, baseline median, each labelled
        const ctx = u.ctx, b = u.bbox, dpr = devicePixelRatio || 1;
        const lines = state.lines.slice();
        if (state.median !== null) lines.push({v: state.median, label: "baseline median", color: "#2ca02c"});
        ctx.save();
        ctx.font = (10 * dpr) + "px sans-serif";
        ctx.textBaseline = "bottom";
        const taken = {left: [], right: []};  // label heights already used on each side
        lines.map(l => ({...l, y: u.valToPos(l.v, "y", true)})).sort((p, q) => p.y - q.y).forEach(l => {
          ctx.strokeStyle = l.color; ctx.fillStyle = l.color; ctx.lineWidth = 1.5 * dpr;
          ctx.setLineDash([6 * dpr, 4 * dpr]);
          ctx.beginPath(); ctx.moveTo(b.left, l.y); ctx.lineTo(b.left + b.width, l.y); ctx.stroke();
          // limits are labelled on the right, baselines on the left; a label that would overlap the one
          // before it on its side goes under its line
          const side = l.color === "#2ca02c" ? "left" : "right";
          const above = !taken[side].some(y => Math.abs(y - l.y) < 12 * dpr);
          const ty = above ? l.y - 2 * dpr : l.y + 12 * dpr;
          taken[side].push(l.y);
          ctx.textAlign = side;
          ctx.fillText(l.label, side === "left" ? b.left + 4 * dpr : b.left + b.width - 4 * dpr, ty);
        });
        ctx.restore();
      }],
    },
  };
  const plot = new uPlot(opts, [[], ...panel.series.map(() => [])], el.querySelector(".chart"));
  window.addEventListener("resize", () => plot.setSize({width: width(), height: 190}));
  return {plot, state};
}

function yRange(panel, state, lo, hi) {
  const vals = [lo, hi].filter(v => v !== null && isFinite(v));
  state.lines.forEach(l => vals.push(l.v));
  if (state.band) vals.push(state.band[0], state.band[1]);
  if (state.median !== null) vals.push(state.median);
  let a = vals.length ? Math.min(...vals) : 0, b = vals.length ? Math.max(...vals) : 1;
  if (panel.min !== undefined) a = Math.min(a, panel.min);
  if (panel.max !== undefined) b = Math.max(b, panel.max);
  const span = Math.max(b - a, panel.minSpan || 0, 1e-9);
  const mid = (a + b) / 2;
  if (b - a < span) { a = mid - span / 2; b = mid + span / 2; }
  if (panel.min !== undefined && a < panel.min) { b += panel.min - a; a = panel.min; }
  const pad = (b - a) * 0.06;
  return [panel.min !== undefined && a - pad < panel.min ? panel.min : a - pad,
          panel.max !== undefined && b + pad > panel.max ? panel.max : b + pad];
}

const charts = [];

function render(d) {
  const points = d.points;
  charts.forEach(({panel, el, plot, state}) => {
    state.t1 = d.now; state.t0 = d.now - d.span_s;
    state.lines = panel.lines(d).filter(l => l && l.v !== null && isFinite(l.v));
    const b = panel.band ? (d.baseline || {})[panel.band] : null;
    state.band = b && b.p10 !== undefined ? [b.p10, b.p90] : null;
    state.median = b && b.p50 !== undefined ? b.p50 : null;
    const when = panel.when || "requests";  // steps without any of these have nothing to show
    const rows = panel.everyStep ? points : points.map(p => p[when] > 0 ? p : {});
    const data = [points.map(p => p.t), ...panel.series.map(([key]) => rows.map(p => p[key] ?? null))];
    const drawn = data.slice(1).reduce((n, ys) => n + ys.filter(v => v !== null).length, 0);
    const busy = points.some(p => p[when] > 0);
    el.setAttribute("data-points", String(busy ? drawn : 0));
    el.setAttribute("data-state", busy && drawn ? "data" : "no-data");
    el.setAttribute("data-lines", state.lines.map(l => l.cls || "line").join(" "));
    el.setAttribute("data-band", state.band ? state.band.map(fmt).join("..") : "");
    plot.setData(data);
  });
  renderAlarms(d.alarms);
  const total = points.reduce((n, p) => n + p.requests, 0);
  document.getElementById("meta").textContent = "model " + (d.model_version || "(loading)") + " (" + d.role +
    ") | " + total + " requests in the last " + d.span_s + " s | active alarms: " +
    (d.alarms.active.join(", ") || "none") + " | updated " + new Date(d.now * 1000).toLocaleTimeString();
  document.body.setAttribute("data-updated", String(d.now));
}

function renderAlarms(alarms) {
  const ul = document.getElementById("alarms");
  ul.innerHTML = "";
  alarms.alarms.forEach(a => {
    const li = document.createElement("li");
    li.className = a.status;
    li.setAttribute("data-alarm", a.alarm);
    li.setAttribute("data-status", a.status);
    const label = {firing: "FIRING", ok: "ok", no_data: "no data"}[a.status];
    const sign = a.direction === "above" ? ">" : "<";
    let text = label + " " + a.alarm;
    if (a.status === "no_data") text += " (" + (a.detail || "too few results") + ")";
    else text += " = " + fmt(a.value) + (a.unit ? " " + a.unit : "") + " (fires " + sign + " " + fmt(a.fire_at) +
                 (a.detail ? "; " + a.detail : "") + ")";
    if (a.pending_since) text += " - changing, held since " + new Date(a.pending_since * 1000).toLocaleTimeString();
    li.textContent = text;
    li.title = a.description;
    ul.appendChild(li);
  });
  ul.setAttribute("data-active", String(alarms.active.length));
}

async function refresh() {
  try {
    const r = await fetch("/api/timeseries?span_s=" + SPAN_S + "&step_s=" + STEP_S, {cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) {
    document.getElementById("meta").textContent = "cannot reach the server: " + e;
    document.body.setAttribute("data-error", String(e));
  }
  setTimeout(refresh, REFRESH_MS);
}

PANELS.forEach(panel => {
  const el = card(panel);
  charts.push({panel, el, ...makeChart(panel, el)});
});
refresh();
