"""The evaluation report: one self-contained HTML page (PNGs embedded) plus the PNGs beside it.

Sections (their HTML ids in brackets): summary [summary] (with what the clips' first results alone
scored, in a run with revisions), WER by slice with intervals [wer-by-slice],
latency distribution with the budget line [latency], worst utterances with their alignment
[worst-utterances], top substitutions [top-substitutions], errors by tag [errors-by-tag], and the
excluded rows [problems].
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asr_service.evaluation.plots import errors_by_slice_png, latency_png, substitutions_png, wer_by_slice_png
from asr_service.evaluation.records import UtteranceRecord
from asr_service.evaluation.results import EvaluationResults
from asr_service.evaluation.scoring import format_alignment, substitution_pairs
from asr_service.evaluation.summary import SliceSummary

__all__ = ["PLOTS", "ReportOptions", "worst_utterances", "write_report"]

_WORDS_PER_LINE = 16

PLOTS = ("wer_by_slice.png", "latency.png", "errors_by_tag.png", "top_substitutions.png")

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3}td.n{text-align:right}pre{background:#f7f7f7;padding:6px;overflow-x:auto;font-size:85%}
img{max-width:100%}.bad{color:#b00}"""


@dataclass(frozen=True, kw_only=True)
class ReportOptions:
    """How much of each list the report shows."""

    worst: int = 10
    substitutions: int = 15
    errors_by: str = "tags"  # the slice key of the errors-by-tag section (falls back to the first key)


def worst_utterances(records: Sequence[UtteranceRecord], n: int) -> list[UtteranceRecord]:
    """The `n` utterances with the most word errors (ties: higher WER first)."""
    return sorted(records, key=lambda r: (-r.words.errors, -(r.wer or 0.0), r.line))[:n]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ci(summary: SliceSummary) -> str:
    ci = summary.wer_ci
    return "-" if ci is None else f"{100 * ci.low:.1f}-{100 * ci.high:.1f}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _slice_table(rows: Sequence[SliceSummary]) -> str:
    head = ("<tr><th>slice</th><th>utts</th><th>ref words</th><th>WER</th><th>95% CI</th><th>S</th><th>D</th>"
            "<th>I</th><th>CER</th><th>p50 ms</th><th>p95 ms</th><th>null rate</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(s.name)}</td><td class=n>{s.utterances}</td><td class=n>{s.words.reference_length}</td>"
        f"<td class=n>{_pct(s.wer)}</td><td class=n>{_ci(s)}</td><td class=n>{s.words.substitutions}</td>"
        f"<td class=n>{s.words.deletions}</td><td class=n>{s.words.insertions}</td><td class=n>{_pct(s.cer)}</td>"
        f"<td class=n>{_ms(s.latency_p50_ms)}</td><td class=n>{_ms(s.latency_p95_ms)}</td>"
        f"<td class=n>{_pct(s.null_rate)}</td></tr>"
        for s in rows
    )
    return f"<table>{head}{body}</table>"


def _summary_section(results: EvaluationResults) -> str:
    counts = results.counts
    model = ", ".join(f"{k}: {v}" for k, v in results.model.items())
    sel = results.selection
    window = sel.get("window")
    window_text = "none (every row)" if not window else f"{window.get('start')} to {window.get('end_exclusive')}"
    facts = [
        ("manifest", results.manifest), ("model", model), ("created", results.created_at),
        ("normaliser", results.normalizer), ("date window", window_text),
        ("rows in manifest", counts.get("manifest_rows", "?")),
        ("scored utterances", counts.get("scored_utterances", len(results.utterances))),
        ("excluded: bad rows", counts.get("excluded_bad_rows", 0)),
        ("excluded: unreadable audio", counts.get("excluded_unreadable_audio", 0)),
        ("excluded: by date (no recorded_at / outside)",
         f"{sel.get('excluded_no_recorded_at', 0)} / {sel.get('excluded_outside_window', 0)}"),
        ("latency budget", f"{results.budget_ms:.0f} ms"),
    ]
    first = results.first_results
    if first is not None:  # a run with revisions: the WER the clips' own texts got, before them
        facts.append(("first results alone (before revisions)",
                      f"WER {_pct(first.rate)} (S {first.substitutions}, D {first.deletions}, "
                      f"I {first.insertions})"))
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    return f'<h2 id="summary">Summary</h2><table>{rows}</table>{_slice_table([results.overall])}'


def _worst_section(results: EvaluationResults, n: int) -> str:
    parts = [f'<h2 id="worst-utterances">Worst utterances (top {n} by word errors)</h2>']
    for r in worst_utterances(results.utterances, n):
        stanzas = []
        for start in range(0, max(len(r.alignment), 1), _WORDS_PER_LINE):  # long utterances wrap
            ref, hyp, marks = format_alignment(r.alignment[start:start + _WORDS_PER_LINE])
            stanzas.append(f"REF: {ref}\nHYP: {hyp}\n     {marks}".rstrip())
        text = "\n\n".join(stanzas)
        parts.append(
            f"<p><b>{html.escape(r.utt_id)}</b> (line {r.line}): {r.words.errors} errors, WER {_pct(r.wer)} "
            f"(S {r.words.substitutions}, D {r.words.deletions}, I {r.words.insertions})</p>"
            f"<pre>{html.escape(text)}</pre>"
        )
    return "".join(parts)


def _substitution_section(results: EvaluationResults, n: int) -> tuple[str, bytes]:
    pairs = substitution_pairs(r.alignment for r in results.utterances).most_common(n)
    png = substitutions_png(pairs)
    rows = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td class=n>{c}</td></tr>"
                   for (a, b), c in pairs)
    table = f"<table><tr><th>reference</th><th>hypothesis</th><th>count</th></tr>{rows}</table>"
    return f'<h2 id="top-substitutions">Top substitutions</h2>{_img(png, "top substitutions")}{table}', png


def _problems_section(results: EvaluationResults) -> str:
    if not results.problems:
        return '<h2 id="problems">Excluded rows</h2><p>None.</p>'
    rows = "".join(f"<tr><td class=n>{p.line}</td><td>{html.escape(p.audio)}</td><td class=bad>"
                   f"{html.escape(p.reason)}</td></tr>" for p in results.problems)
    return (f'<h2 id="problems">Excluded rows ({len(results.problems)})</h2>'
            f"<table><tr><th>line</th><th>audio</th><th>reason</th></tr>{rows}</table>")


def write_report(results: EvaluationResults, out_dir: str | Path, options: ReportOptions | None = None) -> Path:
    """Write ``report.html`` and the PNGs of `PLOTS` into `out_dir`; returns the report's path."""
    opts = options or ReportOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = [str(k) for k in results.options.get("by", [])]
    err_key = opts.errors_by if opts.errors_by in keys else (keys[0] if keys else opts.errors_by)
    err_slices = [s for s in results.slices if s.key == err_key]
    latencies = [c.latency_ms for r in results.utterances for c in r.clips]
    wer_png = wer_by_slice_png(results.overall, results.slices)
    lat_png = latency_png(latencies, results.budget_ms)
    err_png = errors_by_slice_png(err_slices, f"Word errors by {err_key}")
    subs_html, subs_png = _substitution_section(results, opts.substitutions)
    for name, png in zip(PLOTS, (wer_png, lat_png, err_png, subs_png), strict=True):
        (out / name).write_bytes(png)
    sections = [
        _summary_section(results),
        f'<h2 id="wer-by-slice">WER by slice</h2>{_img(wer_png, "WER by slice")}{_slice_table(results.slices)}',
        f'<h2 id="latency">Latency</h2>{_img(lat_png, "latency distribution")}',
        _worst_section(results, opts.worst),
        subs_html,
        f'<h2 id="errors-by-tag">Errors by {html.escape(err_key)}</h2>{_img(err_png, "errors by tag")}',
        _problems_section(results),
    ]
    title = f"ASR evaluation: {results.model.get('model_version', '')}"
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
