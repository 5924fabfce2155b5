"""The report's figures, drawn with matplotlib's Agg backend (no display needed) and returned as PNG bytes.

matplotlib (~0.4 s to import) loads with the first figure, not with the evaluation package.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from asr_service.evaluation.summary import SliceSummary, percentile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["errors_by_slice_png", "latency_png", "substitutions_png", "wer_by_slice_png"]

_DPI = 110


@cache
def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=_DPI)
    _pyplot().close(fig)
    return buffer.getvalue()


def wer_by_slice_png(overall: SliceSummary, slices: Sequence[SliceSummary]) -> bytes:
    """Horizontal bars of WER per slice with their bootstrap intervals; the overall WER as a dashed line."""
    rows = [s for s in slices if s.wer is not None] or [overall]
    fig, ax = _pyplot().subplots(figsize=(8.0, 1.2 + 0.28 * len(rows)))
    names = [f"{s.name}  (n={s.utterances})" for s in rows]
    wers = [100 * (s.wer or 0.0) for s in rows]
    lows = [w - 100 * s.wer_ci.low if s.wer_ci else 0.0 for w, s in zip(wers, rows, strict=True)]
    highs = [100 * s.wer_ci.high - w if s.wer_ci else 0.0 for w, s in zip(wers, rows, strict=True)]
    positions = list(range(len(rows)))[::-1]
    ax.barh(positions, wers, xerr=[lows, highs], color="#4c78a8", ecolor="#333333", capsize=3, height=0.6)
    if overall.wer is not None:
        ax.axvline(100 * overall.wer, color="#e45756", linestyle="--", linewidth=1.2,
                   label=f"overall {100 * overall.wer:.1f}%")
        ax.legend(loc="lower right", fontsize=8)
    for pos, wer, high in zip(positions, wers, highs, strict=True):
        ax.text(wer + high + 0.5, pos, f"{wer:.1f}", va="center", fontsize=7, color="#333333")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    # room for the labels right of the bars; at least 10 %, so that a run with no errors still has an axis
    ax.set_xlim(0.0, max(10.0, 1.1 * max(w + h for w, h in zip(wers, highs, strict=True)) + 4.0))
    ax.set_yticks(positions, names, fontsize=8)
    ax.set_xlabel("WER (%) with 95% bootstrap interval")
    ax.set_title("WER by slice")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def latency_png(latencies_ms: Sequence[float], budget_ms: float) -> bytes:
    """Histogram of per-clip latency with the budget line and the p50/p95 marks."""
    fig, ax = _pyplot().subplots(figsize=(8.0, 3.6))
    values = sorted(latencies_ms)
    if values:
        ax.hist(values, bins=min(40, max(5, len(values) // 2)), color="#72b7b2", edgecolor="white")
        p50, p95 = percentile(values, 50) or 0.0, percentile(values, 95) or 0.0
        ax.axvline(p50, color="#4c78a8", linestyle=":", label=f"p50 {p50:.0f} ms")
        ax.axvline(p95, color="#f58518", linestyle=":", label=f"p95 {p95:.0f} ms")
    else:
        ax.text(0.5, 0.5, "no clips", transform=ax.transAxes, ha="center")
    ax.axvline(budget_ms, color="#e45756", linewidth=2, label=f"budget {budget_ms:.0f} ms")
    over = sum(1 for v in values if v > budget_ms)
    ax.set_title(f"Per-clip latency (server total), {len(values)} clips, {over} over budget")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("clips")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def errors_by_slice_png(slices: Sequence[SliceSummary], title: str) -> bytes:
    """Stacked bars of substitutions, deletions and insertions per slice (e.g. per tag)."""
    rows = sorted(slices, key=lambda s: s.words.errors)
    fig, ax = _pyplot().subplots(figsize=(8.0, 1.2 + 0.28 * max(len(rows), 1)))
    positions = list(range(len(rows)))
    left = [0.0] * len(rows)
    for label, color, attr in (("substitutions", "#4c78a8", "substitutions"),
                               ("deletions", "#f58518", "deletions"), ("insertions", "#e45756", "insertions")):
        counts = [float(getattr(s.words, attr)) for s in rows]
        ax.barh(positions, counts, left=left, color=color, label=label, height=0.6)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    ax.set_yticks(positions, [f"{s.value} (n={s.utterances})" for s in rows], fontsize=8)
    ax.set_xlabel("word errors")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def substitutions_png(pairs: Sequence[tuple[tuple[str, str], int]]) -> bytes:
    """The most frequent substitutions, reference -> hypothesis."""
    fig, ax = _pyplot().subplots(figsize=(8.0, 1.2 + 0.28 * max(len(pairs), 1)))
    positions = list(range(len(pairs)))[::-1]
    ax.barh(positions, [n for _, n in pairs], color="#54a24b", height=0.6)
    ax.set_yticks(positions, [f"{r} → {h}" for (r, h), _ in pairs], fontsize=8)
    ax.set_xlabel("occurrences")
    ax.set_title("Top substitutions (reference → hypothesis)")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
