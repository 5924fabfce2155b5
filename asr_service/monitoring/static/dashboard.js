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

// The Deployment card: polls /api/deploy in a loop of its own (a failure there shows a message on the
// card and never stops the charts). Server strings (model ids, sources, reasons, event details) come
// from operators and go in as text nodes only, never as HTML. For tests, the card carries data-state
// ("ok", "starting", "error"), data-primary, data-models, data-canary, data-canary-percent,
// data-canary-step ("k/n"), data-shadow, data-rollback (model ids, "" for none) and data-polls; each
// model row data-model and data-role, each guard row data-guard and data-verdict, each figure row
// data-figure (its cells data-side).
const DEPLOY_EVENTS = 10;
const SHARE_GUARDS = ["error_rate", "null_rate", "over_budget"];
let deployPolls = 0;

function h(tag, attrs, ...children) {  // an element with attributes and text (or element) children
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  });
  const kids = children.flat().filter(c => c !== null && c !== undefined);
  node.append(...kids.map(c => c instanceof Node ? c : String(c)));  // strings become text nodes, never HTML
  return node;
}

function pct(v) { return v === null || v === undefined ? "n/a" : fmt(v * 100) + " %"; }
function share(n, d) { return d ? pct(n / d) + " (" + n + "/" + d + ")" : "n/a (none yet)"; }
function conf(v) { return v === null || v === undefined ? "n/a" : Number(v).toFixed(2); }
function ms(v) { return v === null || v === undefined ? "n/a" : fmt(v) + " ms"; }
function clock(at) { return new Date(at * 1000).toLocaleTimeString(); }

function table(cls, head, rows) {
  return h("table", {class: cls}, h("thead", {}, h("tr", {}, head.map(t => h("th", {}, t)))), h("tbody", {}, rows));
}

function modelsTable(models) {
  const rows = models.map(m => {
    const faults = Object.entries(m.faults || {}).map(([k, v]) => k + "=" + v).join(", ");
    return h("tr", {class: "role-" + m.role, "data-model": m.model_id, "data-role": m.role},
      h("td", {}, m.model_id), h("td", {title: m.engine + ", " + m.languages + " language(s)"}, m.model_version),
      h("td", {}, h("span", {class: "role"}, m.role)), h("td", {"data-field": "source"}, m.source),
      h("td", {class: faults ? "over" : "", "data-field": "faults"}, faults),
      h("td", {class: "num"}, fmt(m.load_s) + " s"),
      h("td", {class: "num"}, m.rss_added_mb === null ? "n/a" : fmt(m.rss_added_mb) + " MB"),
      h("td", {class: "num"}, m.in_flight), h("td", {class: "num"}, ms(m.mean_inference_ms)));
  });
  return table("deploy-models", ["model", "version", "role", "source", "faults", "load time", "RSS added",
                                 "in flight", "mean inference"], rows);
}

function compareRows(c, p) {  // the canary's and the primary's windows, figure by figure
  const figures = [
    ["requests", "requests", f => String(f.requests)],
    ["errors", "errors (share)", f => f.errors + " (" + (f.requests ? pct(f.errors / f.requests) : "n/a") + ")"],
    ["null_rate", "null rate (nulls/judged)", f => share(f.nulls, f.judged)],
    ["p95", "p95 vs budget", f => f.p95_ms === null ? "n/a" : ms(f.p95_ms) + " / " + ms(f.budget_ms)],
    ["over_budget", "share over budget", f => share(f.over_budget, f.answered)],
    ["mean_confidence", "mean confidence", f => f.mean_confidence === null ? "n/a" : conf(f.mean_confidence) +
      (f.sd_confidence === null ? "" : " ± " + conf(f.sd_confidence)) + " (" + f.texts + " with text)"],
  ];
  return figures.map(([key, label, show]) => h("tr", {"data-figure": key}, h("th", {}, label),
    [["canary", c], ["primary", p]].map(([side, f]) => h("td", {
      class: key === "p95" && f.p95_ms !== null && f.p95_ms > f.budget_ms ? "over" : "", "data-side": side},
      show(f)))));
}

function guardRows(guards, options) {
  if (!guards.length) {
    return [h("tr", {}, h("td", {colspan: 6, class: "v-nodata"},
      "no reading yet: the guards look every few canary answers"))];
  }
  return guards.map(g => {
    const isShare = SHARE_GUARDS.includes(g.name);
    const value = v => v === null ? "n/a" : isShare ? pct(v) : conf(v);
    const limit = g.limit === null ? "needs " + options.guard_min_requests + " requests a side"
      : (isShare ? "fails above " : "fails below ") + value(g.limit);
    return h("tr", {"data-guard": g.name, "data-verdict": g.verdict},
      h("td", {}, g.name), h("td", {class: "v-" + g.verdict.replace(" ", "")}, g.verdict),
      h("td", {class: "num"}, value(g.canary)), h("td", {class: "num"}, value(g.primary)),
      h("td", {}, limit), h("td", {class: "num"}, g.canary_n + " / " + g.primary_n));
  });
}

function canaryBox(c, options) {
  const ramp = c.steps.map((s, i) => i === c.step ? "[" + fmt(s) + "]" : fmt(s)).join(" → ") + " %";
  return h("div", {id: "deploy-canary"},
    h("h3", {}, "Canary ", c.model_id, " at " + fmt(c.percent) + " % of default traffic"),
    h("div", {}, "step " + (c.step + 1) + " of " + c.steps.length + " (ramp " + ramp + "), started " +
      clock(c.started_at)),
    h("div", {"data-progress": "answers"}, "answers in this step",
      h("progress", {value: Math.min(c.step_answers, c.step_requests), max: c.step_requests}),
      c.step_answers + " / " + c.step_requests),
    h("div", {"data-progress": "held"}, "held in this step",
      h("progress", {value: c.step_s ? Math.min(c.step_held_s, c.step_s) : 1, max: c.step_s || 1}),
      fmt(c.step_held_s) + " / " + fmt(c.step_s) + " s"),
    table("deploy-compare", ["same traffic, last requests of each side", "canary", "primary"],
          compareRows(c.canary, c.primary)),
    table("deploy-guards", ["guard", "verdict", "canary", "primary", "limit", "requests (canary / primary)"],
          guardRows(c.guards || [], options)),
    h("div", {class: "muted"}, "verdicts as of the guards' last look (every few canary answers), over the last " +
      options.guard_window + " requests of each side once both have " + options.guard_min_requests +
      "; the canary is rolled back when worse by more than " + options.guard_z + " standard errors"));
}

function shadowBox(s) {
  const one = (key, label, text) => h("tr", {"data-figure": key}, h("th", {}, label), h("td", {colspan: 2}, text));
  const two = (key, label, p, q) => h("tr", {"data-figure": key}, h("th", {}, label),
    h("td", {class: "num", "data-side": "primary"}, p), h("td", {class: "num", "data-side": "shadow"}, q));
  return h("div", {id: "deploy-shadow"},
    h("h3", {}, "Shadow ", s.model_id, " (", s.model_version, ") on " + pct(s.sample) + " of the primary's clips"),
    table("deploy-shadow", ["", "primary", "shadow"], [
      one("coverage", "coverage", s.compared + " / " + s.offered + " compared (" + pct(s.coverage) + "); " +
        s.dropped_busy + " dropped (no idle worker), " + s.failed + " failed"),
      one("wer", "WER vs primary", pct(s.wer_vs_primary)),
      one("null_agreement", "null agreement", pct(s.null_agreement) + " (null on the primary only: " +
        s.null_primary_only + ", on the shadow only: " + s.null_shadow_only + ")"),
      two("p50", "inference p50", ms(s.primary_p50_ms), ms(s.shadow_p50_ms)),
      two("p95", "inference p95", ms(s.primary_p95_ms), ms(s.shadow_p95_ms)),
      two("mean_confidence", "mean confidence (both with text)", conf(s.primary_mean_confidence),
          conf(s.shadow_mean_confidence)),
    ]),
    h("a", {href: "/api/deploy/report", target: "_blank", rel: "noopener"},
      "report: the clips on which they disagree most (/api/deploy/report)"));
}

function rollbackBox(r) {
  return h("div", {id: "deploy-rollback", "data-model": r.model_id},
    h("strong", {}, "Automatic rollback at " + clock(r.at) + ": "),
    "canary ", r.model_id, " (", r.model_version, ") rolled back at " + fmt(r.percent) + " % after " +
    r.canary_answers + " canary answers; failed guard(s): ", r.guards.join(", "), ". Reason: ", r.reason);
}

function eventsTable(events) {
  const last = events.slice(-DEPLOY_EVENTS).reverse();
  const rows = last.map(e => h("tr", {"data-action": e.action},
    h("td", {}, clock(e.at)), h("td", {}, e.action), h("td", {}, e.detail)));
  return [h("h3", {}, "Last events"), rows.length ? table("deploy-events", ["time", "action", "detail"], rows)
    : h("div", {class: "muted"}, "none yet")];
}

function renderDeploy(d) {
  const el = document.getElementById("deploy-card");
  const note = document.getElementById("deploy-note");
  const body = document.getElementById("deploy-body");
  const marks = {primary: "", models: 0, canary: "", "canary-percent": "", "canary-step": "", shadow: "", rollback: ""};
  if (!d.enabled) {
    note.textContent = "the server is starting: no model is loaded yet";
    body.replaceChildren();
  } else {
    const c = d.canary, s = d.shadow, r = d.last_rollback;
    const main = h("div", {}, h("div", {},
      "primary ", h("strong", {}, d.primary || "none"),
      d.previous ? ["; previous ", d.previous, " (a rollback returns to it)"] : [],
      c ? "" : "; no canary", s ? "" : "; no shadow"), modelsTable(d.models),
      r ? rollbackBox(r) : null, c ? canaryBox(c, d.options) : null, s ? shadowBox(s) : null);
    body.replaceChildren(main, h("div", {}, eventsTable(d.events || [])));
    note.textContent = "";
    Object.assign(marks, {primary: d.primary || "", models: d.models.length, canary: c ? c.model_id : "",
      "canary-percent": c ? c.percent : "", "canary-step": c ? (c.step + 1) + "/" + c.steps.length : "",
      shadow: s ? s.model_id : "", rollback: r ? r.model_id : ""});
  }
  Object.entries(marks).forEach(([k, v]) => el.setAttribute("data-" + k, String(v)));
  el.setAttribute("data-state", d.enabled ? "ok" : "starting");
  el.removeAttribute("data-error");
  el.setAttribute("data-polls", String(++deployPolls));
}

async function refreshDeploy() {
  try {
    const r = await fetch("/api/deploy", {cache: "no-store"});
    if (!r.ok) {
      const why = await r.json().then(j => j.error, () => "");
      throw new Error("HTTP " + r.status + (why ? ": " + why : ""));
    }
    renderDeploy(await r.json());
  } catch (e) {
    const el = document.getElementById("deploy-card");
    el.setAttribute("data-state", "error");
    el.setAttribute("data-error", String(e));
    document.getElementById("deploy-note").textContent = "cannot read the deployment state (/api/deploy): " + e +
      (document.getElementById("deploy-body").childElementCount ? "; below is the last state read" : "");
  }
  setTimeout(refreshDeploy, REFRESH_MS);
}

PANELS.forEach(panel => {
  const el = card(panel);
  charts.push({panel, el, ...makeChart(panel, el)});
});
refresh();
refreshDeploy();
