"""Evaluation on recent dev sets: WER/CER by slice with bootstrap intervals, model comparison, error analysis.

One concept per module:

- `manifest`: the JSON-lines manifest and its bad rows (`load_manifest`)
- `selection`: recording-date windows (`DateWindow`, `select`) and slice keys (`slice_values`)
- `normalizers`: the scoring normaliser interface (`get_normalizer`; "whisper" or "none")
- `scoring`: error counts and word alignment (`score`, `ErrorCounts`, `format_alignment`)
- `bootstrap`: intervals and the paired bootstrap (`bootstrap_rate`, `paired_bootstrap`)
- `transcription`: files through the client VAD and a transcriber (`transcribe_file`, `transcribe_files`)
- `records`, `summary`, `results`: per-utterance records, per-slice figures, results.json
- `runner`: the whole evaluation (`evaluate_manifest`)
- `compare`: paired comparison and promotion gate (`compare`, `Gates`)
- `report`: report.html and its plots (`write_report`)
- `batch`: resumable offline transcription (`run_batch`)

Typical use::

    from asr_service.client import LocalTranscriber
    from asr_service.evaluation import EvalOptions, evaluate_manifest, file_transcriber, write_report
    results = evaluate_manifest("dev.jsonl", file_transcriber(LocalTranscriber()), options=EvalOptions(by=("tags",)))
    write_results(results, "out/results.json"); write_report(results, "out")
"""

from asr_service.evaluation.batch import BatchItem, BatchSummary, batch_items, run_batch
from asr_service.evaluation.bootstrap import Interval, PairedBootstrap, bootstrap_rate, paired_bootstrap
from asr_service.evaluation.compare import Comparison, Gates, SliceComparison, compare
from asr_service.evaluation.errors import EvaluationError, ManifestError, ResultsError, SelectionError
from asr_service.evaluation.manifest import Manifest, RowProblem, Utterance, load_manifest
from asr_service.evaluation.normalizers import NORMALIZERS, Normalizer, get_normalizer
from asr_service.evaluation.records import UtteranceRecord
from asr_service.evaluation.report import ReportOptions, worst_utterances, write_report
from asr_service.evaluation.results import EvaluationResults, load_results, write_results
from asr_service.evaluation.runner import EvalOptions, evaluate, evaluate_manifest, file_transcriber
from asr_service.evaluation.scoring import AlignedWord, ErrorCounts, UtteranceScore, format_alignment, score
from asr_service.evaluation.selection import DateWindow, Selection, select, slice_values
from asr_service.evaluation.summary import BootstrapOptions, SliceSummary
from asr_service.evaluation.transcription import AudioSpan, ClipOutcome, FileTranscript, transcribe_file

__all__ = [
    "NORMALIZERS",
    "AlignedWord",
    "AudioSpan",
    "BatchItem",
    "BatchSummary",
    "BootstrapOptions",
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
    "Manifest",
    "ManifestError",
    "Normalizer",
    "PairedBootstrap",
    "ReportOptions",
    "ResultsError",
    "RowProblem",
    "Selection",
    "SelectionError",
    "SliceComparison",
    "SliceSummary",
    "Utterance",
    "UtteranceRecord",
    "UtteranceScore",
    "batch_items",
    "bootstrap_rate",
    "compare",
    "evaluate",
    "evaluate_manifest",
    "file_transcriber",
    "format_alignment",
    "get_normalizer",
    "load_manifest",
    "load_results",
    "paired_bootstrap",
    "run_batch",
    "score",
    "select",
    "slice_values",
    "transcribe_file",
    "worst_utterances",
    "write_report",
    "write_results",
]
