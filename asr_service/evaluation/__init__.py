"""Evaluation on recent dev sets: WER/CER by slice with bootstrap intervals, model comparison, error analysis.

One concept per module:

- `manifest`: the JSON-lines manifest and its bad rows (`load_manifest`)
- `selection`: recording-date windows (`DateWindow`, `select`) and slice keys (`slice_values`)
- `normalizers`: the scoring normalisers (`get_normalizer`: "whisper-digits", "whisper", "convention", "none";
  `split_digits`)
- `scoring`: error counts and word alignment (`score`, `ErrorCounts`, `format_alignment`)
- `bootstrap`: intervals and the paired bootstrap (`bootstrap_rate`, `paired_bootstrap`)
- `transcription`: files through the client VAD and a transcriber (`transcribe_file`, `ClipFileTranscriber`)
- `records`, `summary`, `results`: per-utterance records, per-slice figures, results.json
- `settings`: what a run was measured with, the host fingerprint, what differs between two runs
  (`host_fingerprint`, `settings_differences`)
- `runner`: the whole evaluation (`evaluate_manifest`)
- `comparison`: paired comparison and promotion gate (`compare`, `Gates`)
- `latency`: the gate's latency verdict, relative to the baseline on the same host (`check_latency`)
- `report`: report.html and its plots (`write_report`)
- `batch`: resumable offline transcription (`run_batch`)
- `cluster`: the same files on a Dask cluster, one model per worker (`open_cluster`); Dask is optional
  and loads only there (``pip install 'asr-service[cluster]'``)

Typical use::

    from asr_service.client import LocalTranscriber
    from asr_service.evaluation import EvalOptions, evaluate_manifest, file_transcriber, write_report
    results = evaluate_manifest("dev.jsonl", file_transcriber(LocalTranscriber()), options=EvalOptions(by=("tags",)))
    write_results(results, "out/results.json"); write_report(results, "out")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asr_service._lazy import lazy_getattr

if TYPE_CHECKING:
    from asr_service.evaluation.batch import BatchItem, BatchSummary, batch_items, run_batch
    from asr_service.evaluation.bootstrap import Interval, PairedBootstrap, bootstrap_rate, paired_bootstrap
    from asr_service.evaluation.comparison import Comparison, Gates, SliceComparison, compare
    from asr_service.evaluation.errors import EvaluationError, ManifestError, ResultsError, SelectionError
    from asr_service.evaluation.latency import LatencyCheck, check_latency
    from asr_service.evaluation.manifest import Manifest, RowProblem, Utterance, load_manifest
    from asr_service.evaluation.normalizers import NORMALIZERS, Normalizer, get_normalizer, split_digits
    from asr_service.evaluation.records import UtteranceRecord
    from asr_service.evaluation.report import ReportOptions, worst_utterances, write_report
    from asr_service.evaluation.results import EvaluationResults, load_results, write_results
    from asr_service.evaluation.runner import EvalOptions, evaluate, evaluate_manifest, file_transcriber
    from asr_service.evaluation.scoring import AlignedWord, ErrorCounts, UtteranceScore, format_alignment, score
    from asr_service.evaluation.selection import DateWindow, Selection, select, slice_values
    from asr_service.evaluation.settings import SettingDifference, host_fingerprint, settings_differences
    from asr_service.evaluation.summary import BootstrapOptions, SliceSummary
    from asr_service.evaluation.transcription import (
        AudioSpan,
        ClipFileTranscriber,
        ClipOutcome,
        FileTranscript,
        transcribe_file,
    )

__all__ = [
    "NORMALIZERS",
    "AlignedWord",
    "AudioSpan",
    "BatchItem",
    "BatchSummary",
    "BootstrapOptions",
    "ClipFileTranscriber",
    "ClipOutcome",
    "Comparison",
    "DateWindow",
    "ErrorCounts",
    "EvalOptions",
    "EvaluationError",
    "EvaluationResults",
    "FileTranscript",
    "Gates",
    "Interval",
    "LatencyCheck",
    "Manifest",
    "ManifestError",
    "Normalizer",
    "PairedBootstrap",
    "ReportOptions",
    "ResultsError",
    "RowProblem",
    "Selection",
    "SelectionError",
    "SettingDifference",
    "SliceComparison",
    "SliceSummary",
    "Utterance",
    "UtteranceRecord",
    "UtteranceScore",
    "batch_items",
    "bootstrap_rate",
    "check_latency",
    "compare",
    "evaluate",
    "evaluate_manifest",
    "file_transcriber",
    "format_alignment",
    "get_normalizer",
    "host_fingerprint",
    "load_manifest",
    "load_results",
    "paired_bootstrap",
    "run_batch",
    "score",
    "select",
    "settings_differences",
    "slice_values",
    "split_digits",
    "transcribe_file",
    "worst_utterances",
    "write_report",
    "write_results",
]

# Names load on first use, so that importing one module of the package (or `asr --help`) does not
# load them all. No name may be a submodule's too: once loaded, the submodule would shadow it.
_HOMES = {
    "BatchItem": "asr_service.evaluation.batch",
    "BatchSummary": "asr_service.evaluation.batch",
    "batch_items": "asr_service.evaluation.batch",
    "run_batch": "asr_service.evaluation.batch",
    "Interval": "asr_service.evaluation.bootstrap",
    "PairedBootstrap": "asr_service.evaluation.bootstrap",
    "bootstrap_rate": "asr_service.evaluation.bootstrap",
    "paired_bootstrap": "asr_service.evaluation.bootstrap",
    "Comparison": "asr_service.evaluation.comparison",
    "Gates": "asr_service.evaluation.comparison",
    "SliceComparison": "asr_service.evaluation.comparison",
    "compare": "asr_service.evaluation.comparison",
    "EvaluationError": "asr_service.evaluation.errors",
    "ManifestError": "asr_service.evaluation.errors",
    "ResultsError": "asr_service.evaluation.errors",
    "SelectionError": "asr_service.evaluation.errors",
    "LatencyCheck": "asr_service.evaluation.latency",
    "check_latency": "asr_service.evaluation.latency",
    "Manifest": "asr_service.evaluation.manifest",
    "RowProblem": "asr_service.evaluation.manifest",
    "Utterance": "asr_service.evaluation.manifest",
    "load_manifest": "asr_service.evaluation.manifest",
    "NORMALIZERS": "asr_service.evaluation.normalizers",
    "Normalizer": "asr_service.evaluation.normalizers",
    "get_normalizer": "asr_service.evaluation.normalizers",
    "split_digits": "asr_service.evaluation.normalizers",
    "UtteranceRecord": "asr_service.evaluation.records",
    "ReportOptions": "asr_service.evaluation.report",
    "worst_utterances": "asr_service.evaluation.report",
    "write_report": "asr_service.evaluation.report",
    "EvaluationResults": "asr_service.evaluation.results",
    "load_results": "asr_service.evaluation.results",
    "write_results": "asr_service.evaluation.results",
    "EvalOptions": "asr_service.evaluation.runner",
    "evaluate": "asr_service.evaluation.runner",
    "evaluate_manifest": "asr_service.evaluation.runner",
    "file_transcriber": "asr_service.evaluation.runner",
    "AlignedWord": "asr_service.evaluation.scoring",
    "ErrorCounts": "asr_service.evaluation.scoring",
    "UtteranceScore": "asr_service.evaluation.scoring",
    "format_alignment": "asr_service.evaluation.scoring",
    "score": "asr_service.evaluation.scoring",
    "DateWindow": "asr_service.evaluation.selection",
    "Selection": "asr_service.evaluation.selection",
    "select": "asr_service.evaluation.selection",
    "slice_values": "asr_service.evaluation.selection",
    "SettingDifference": "asr_service.evaluation.settings",
    "host_fingerprint": "asr_service.evaluation.settings",
    "settings_differences": "asr_service.evaluation.settings",
    "BootstrapOptions": "asr_service.evaluation.summary",
    "SliceSummary": "asr_service.evaluation.summary",
    "AudioSpan": "asr_service.evaluation.transcription",
    "ClipFileTranscriber": "asr_service.evaluation.transcription",
    "ClipOutcome": "asr_service.evaluation.transcription",
    "FileTranscript": "asr_service.evaluation.transcription",
    "transcribe_file": "asr_service.evaluation.transcription",
}


__getattr__ = lazy_getattr(__name__, _HOMES)
