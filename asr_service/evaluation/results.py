"""results.json: the summary, each slice, and one record per utterance; written by `asr eval`, read by compare.

Top level (``schema`` = `SCHEMA`)::

    {"schema": "asr-eval-results/1", "created_at": ..., "manifest": ..., "model": {...},
     "options": {"normalizer": "whisper-digits", "by": [...], "bootstrap": {...}, "budget_ms": 300, ...},
     "settings": {"transcription": {...}, "scoring": {...}, "manifest": {...}, "host": {...}, ...},
     "selection": {"window": ..., "limit": N, "selected": N, "excluded_no_recorded_at": N, ...},
     "summary": {<overall slice>, "manifest_rows": N, "excluded_bad_rows": N, ...,
                 "first_results": {"reference_words": N, "hits": N, "substitutions": N, "deletions": N,
                                   "insertions": N, "errors": N, "wer": ...} or null},
     "problems": [{"line": 12, "audio": ..., "reason": ...}],
     "slices": [{"key": "tags", "value": "noisy", "wer": ..., "wer_ci95": [lo, hi], ...}],
     "utterances": [{"utt_id": ..., "reference": ..., "hypothesis": ..., "words": {...}, ...}]}

``model`` describes the system under test (model version, engine options, recognizer settings),
``options`` how it was scored, ``settings`` the rest of what a result depends on
(`asr_service.evaluation.settings`). Files written before ``settings`` existed still load: their
settings read "not recorded".

``summary.first_results`` is what the clips' first results alone scored on the same utterances, where
revisions replaced some texts (`asr eval --revisions`; `first_results_errors`); null when none did (a
run without revisions). Files written before it existed load with it None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr_service.config import DEFAULT_BUDGET_MS
from asr_service.evaluation.errors import ResultsError
from asr_service.evaluation.manifest import RowProblem
from asr_service.evaluation.records import UtteranceRecord
from asr_service.evaluation.scoring import ErrorCounts
from asr_service.evaluation.summary import SliceSummary

__all__ = ["SCHEMA", "EvaluationResults", "load_results", "write_results"]

SCHEMA = "asr-eval-results/1"


@dataclass(frozen=True, kw_only=True)
class EvaluationResults:
    """A whole evaluation run."""

    created_at: str
    manifest: str
    model: Mapping[str, Any]
    options: Mapping[str, Any]
    selection: Mapping[str, Any]
    overall: SliceSummary
    slices: tuple[SliceSummary, ...]
    utterances: tuple[UtteranceRecord, ...]
    problems: tuple[RowProblem, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)  # manifest_rows, excluded_bad_rows, ...
    settings: Mapping[str, Any] = field(default_factory=dict)  # empty in files from before it existed
    # the word errors of the clips' first results alone, where revisions replaced some texts
    # (`first_results_errors`); None without revisions, and in files from before it existed
    first_results: ErrorCounts | None = None

    @property
    def normalizer(self) -> str:
        """Name of the scoring normaliser the run used."""
        return str(self.options.get("normalizer", ""))

    @property
    def budget_ms(self) -> float:
        """The latency budget the run measured against."""
        return float(self.options.get("budget_ms", DEFAULT_BUDGET_MS))

    @property
    def host(self) -> Mapping[str, Any] | None:
        """The machine the run was measured on (hostname, cpu_model, cores); None when not recorded."""
        host = self.settings.get("host")
        return host if isinstance(host, Mapping) else None

    def recorded_settings(self) -> dict[str, Any]:
        """Every recorded setting that a result depends on, grouped: ``model``, ``options``,
        ``selection`` (window, limit) and the groups of ``settings``; what `settings_differences` compares."""
        selection = {k: self.selection[k] for k in ("window", "limit") if k in self.selection}
        return {"model": dict(self.model), "options": dict(self.options), "selection": selection,
                **{k: v for k, v in self.settings.items() if k not in ("model", "options", "selection")}}

    def to_json(self) -> dict[str, Any]:
        """The results.json document."""
        return {
            "schema": SCHEMA, "created_at": self.created_at, "manifest": self.manifest,
            "model": dict(self.model), "options": dict(self.options), "settings": dict(self.settings),
            "selection": dict(self.selection),
            "summary": {**dict(self.counts), **self.overall.to_json(),
                        "first_results": _first_results_json(self.first_results)},
            "problems": [p.to_json() for p in self.problems],
            "slices": [s.to_json() for s in self.slices],
            "utterances": [u.to_json() for u in self.utterances],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvaluationResults:
        """From a results.json document (KeyError/TypeError/ValueError when malformed)."""
        summary = dict(data["summary"])
        counts = {k: int(v) for k, v in summary.items() if k in _COUNT_KEYS}
        first = summary.get("first_results")  # absent in files from before it existed
        return cls(
            created_at=str(data["created_at"]), manifest=str(data["manifest"]), model=dict(data["model"]),
            options=dict(data["options"]), selection=dict(data["selection"]),
            overall=SliceSummary.from_json(summary),
            slices=tuple(SliceSummary.from_json(s) for s in data["slices"]),
            utterances=tuple(UtteranceRecord.from_json(u) for u in data["utterances"]),
            problems=tuple(RowProblem(line=int(p["line"]), audio=str(p["audio"]), reason=str(p["reason"]))
                           for p in data.get("problems", [])),
            counts=counts,
            settings=dict(data.get("settings") or {}),
            first_results=None if first is None else ErrorCounts.from_json(first),
        )


_COUNT_KEYS = frozenset({"manifest_rows", "excluded_bad_rows", "excluded_unreadable_audio",
                         "excluded_by_date", "excluded_beyond_limit", "scored_utterances"})


def _first_results_json(words: ErrorCounts | None) -> dict[str, Any] | None:
    """``summary.first_results``: the counts, as an utterance's ``words`` (null without revisions)."""
    if words is None:
        return None
    return {"reference_words": words.reference_length, **words.to_json(), "errors": words.errors,
            "wer": words.rate}


def write_results(results: EvaluationResults, path: str | Path) -> Path:
    """Write results.json (UTF-8, indented); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


def load_results(path: str | Path) -> EvaluationResults:
    """Read a results.json; `ResultsError` says why it cannot be used."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{source}: cannot read it ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{source}: not a JSON document ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultsError(f"{source}: not an `asr eval` results file (schema {found!r}, expected {SCHEMA!r})")
    try:
        return EvaluationResults.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultsError(f"{source}: malformed results ({type(exc).__name__}: {exc})") from exc
