"""Agreement report as JSON, Markdown and HTML."""

from __future__ import annotations

import dataclasses
import html
import json
from typing import Any

from labeling._agreement import AgreementReport

__all__ = ["report_html", "report_json", "report_markdown"]


def report_json(report: AgreementReport, *, worst_n: int = 10) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    data = dataclasses.asdict(report)
    data["annotators"] = [
        {**dataclasses.asdict(a), "violation_rate": round(a.violation_rate, 4)} for a in report.annotators
    ]
    data["worst_tasks"] = [t.task_id for t in report.worst(worst_n)]
    return data


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _rows(report: AgreementReport, worst_n: int) -> dict[str, tuple[list[str], list[list[str]]]]:
    summary = [
        ["tasks", str(report.tasks)],
        ["tasks with 2+ annotations", str(report.tasks_with_overlap)],
        ["mean WER between annotators, raw", _pct(report.mean_raw_wer)],
        ["mean WER between annotators, content (what was heard)", _pct(report.mean_content_wer)],
        ["mean WER between annotators, scoring form (fillers, tags dropped)", _pct(report.mean_normalised_wer)],
        ["gap: raw minus content (disagreement in writing only)", _pct(report.mean_convention_gap_wer)],
    ]
    annotators = [
        [a.annotator, str(a.annotations), str(a.errors), str(a.warnings), _pct(a.violation_rate)]
        for a in report.annotators
    ]
    worst = [
        [str(t.task_id), _pct(t.raw_wer), _pct(t.content_wer), _pct(t.normalised_wer), _pct(t.convention_gap_wer),
         " / ".join(repr(text) for text in t.texts.values())]
        for t in report.worst(worst_n)
    ]
    conflicts = [
        [c.model_text, c.normalised_text,
         "; ".join(f"{text!r} (tasks {', '.join(map(str, ids))})" for text, ids in c.variants.items())]
        for c in report.conflicts
    ]
    return {
        "Summary": (["measure", "value"], summary),
        "Annotators (convention violations)": (
            ["annotator", "annotations", "errors", "warnings", "annotations with violations"], annotators),
        f"Tasks where annotators disagree most (top {worst_n})": (
            ["task", "raw WER", "content WER", "scoring WER", "writing gap", "transcripts"], worst),
        "Same model transcript, same words, different writing": (
            ["model transcript", "normalised", "written as"], conflicts),
    }


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(report: AgreementReport, *, worst_n: int = 10) -> str:
    """The report as Markdown."""
    lines = [f"# Annotator agreement: convention {report.convention}", ""]
    for title, (header, rows) in _rows(report, worst_n).items():
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["None.", ""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def report_html(report: AgreementReport, *, worst_n: int = 10) -> str:
    """The report as a standalone HTML page."""
    esc = html.escape
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Annotator agreement: {esc(report.convention)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f4f6}</style>",
        "</head><body>", f"<h1>Annotator agreement: convention {esc(report.convention)}</h1>",
    ]
    for title, (header, rows) in _rows(report, worst_n).items():
        parts.append(f"<h2>{esc(title)}</h2>")
        if not rows:
            parts.append("<p>None.</p>")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    data = json.dumps(report_json(report, worst_n=worst_n))
    parts.append(f"<script type=\"application/json\" id=\"data\">{esc(data)}</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
