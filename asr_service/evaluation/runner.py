"""Run an evaluation: manifest -> date selection -> transcription -> scores per utterance and per slice.

The transcription step is a `FileTranscriber` (path -> `FileTranscript`): normally a
`ClipFileTranscriber` (`file_transcriber`: each file through the client VAD, each clip sent alone to a
`Transcriber`, a server through `AsrClient` or in-process), a fake in tests. Unreadable audio becomes a
`RowProblem` with its manifest line, like the manifest's own bad rows.

Every run records what it was measured with (results.json ``settings``, ``model``, ``options``): the
VAD options and the transcriber's settings when the `FileTranscriber` describes itself (a
`ClipFileTranscriber` does; another reads "not recorded"), the normaliser and its version, the
manifest's digest, the row limit, this host's fingerprint and the versions of the packages involved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vad
from asr_service.client import Transcriber
from asr_service.config import DEFAULT_BUDGET_MS
from asr_service.evaluation.manifest import Manifest, RowProblem, load_manifest
from asr_service.evaluation.normalizers import DEFAULT_NORMALIZER, describe_normalizer, get_normalizer
from asr_service.evaluation.records import UtteranceRecord, build_record, first_results_errors
from asr_service.evaluation.results import EvaluationResults
from asr_service.evaluation.selection import Clock, DateWindow, Selection, check_slice_keys, select, utc_now
from asr_service.evaluation.settings import host_fingerprint, manifest_fingerprint, package_versions
from asr_service.evaluation.summary import BootstrapOptions, slice_summaries, summarize
from asr_service.evaluation.transcription import (
    AudioSpan,
    ClipFileTranscriber,
    DescribedFileTranscriber,
    FileTranscriber,
    FileTranscript,
    transcribe_files,
)

__all__ = ["EvalOptions", "evaluate", "evaluate_manifest", "file_transcriber"]

logger = logging.getLogger(__name__)

Progress = Callable[[], object]
"""Called once per utterance done (the CLI advances its progress bar)."""


@dataclass(frozen=True, kw_only=True)
class EvalOptions:
    """What to score and how."""

    by: tuple[str, ...] = ("tags",)  # slice keys
    normalizer: str = DEFAULT_NORMALIZER
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)
    budget_ms: float = DEFAULT_BUDGET_MS  # what the transcriber's server time is held to
    workers: int = 1  # files in flight at once (the transcriber must be thread-safe when > 1)

    def to_json(self) -> dict[str, Any]:
        """As written in results.json."""
        return {"normalizer": self.normalizer, "by": list(self.by), "budget_ms": self.budget_ms,
                "workers": self.workers,
                "bootstrap": {"resamples": self.bootstrap.resamples, "seed": self.bootstrap.seed,
                              "confidence": self.bootstrap.confidence, "method": "percentile, utterance resampling"}}


def file_transcriber(
    transcriber: Transcriber, vad_options: vad.VadOptions | None = None, *, revisions: bool = False,
    pace: float | None = None,
) -> ClipFileTranscriber:
    """`transcribe_file` bound to a transcriber and VAD options (default `vad.VadOptions()`), recording both;
    with `revisions`, each file as one session (at `pace` times the speed of speech, if given) and its text
    after the revisions (ValueError for a transcriber that takes no sessions)."""
    return ClipFileTranscriber(transcriber, vad_options or vad.VadOptions(), revisions=revisions, pace=pace)


def evaluate(
    manifest: Manifest,
    selection: Selection,
    transcribe: FileTranscriber,
    *,
    options: EvalOptions | None = None,
    model: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    clock: Clock = utc_now,
    host: Mapping[str, Any] | None = None,
) -> EvaluationResults:
    """Transcribe and score every selected utterance; `model` describes the system under test (over
    what the transcriber says of itself), `host` the machine (default: this one's `host_fingerprint`).
    Where revisions replaced texts, the clips' first results are scored too (`first_results_errors`)."""
    opts = options or EvalOptions()
    normalizer = get_normalizer(opts.normalizer)
    utterances = selection.utterances
    records: dict[int, UtteranceRecord] = {}
    unreadable: list[RowProblem] = []
    identity: dict[str, str] = {}
    sources = [u.audio_path if u.start_s == 0.0 and u.end_s is None
               else AudioSpan(path=u.audio_path, start_s=u.start_s, end_s=u.end_s) for u in utterances]
    for index, outcome in transcribe_files(transcribe, sources, workers=opts.workers):
        utt = utterances[index]
        if isinstance(outcome, vad.VadError):
            unreadable.append(RowProblem(line=utt.line, audio=utt.audio, reason=f"unreadable audio: {outcome}"))
            logger.warning("manifest line %d: unreadable audio: %s", utt.line, outcome)
        else:
            records[index] = build_record(utt, outcome, normalizer, opts.by)
            _note_model(identity, outcome)
        if progress is not None:
            progress()
    scored = [records[i] for i in sorted(records)]
    problems = tuple(sorted((*manifest.problems, *unreadable), key=lambda p: p.line))
    counts = {
        "manifest_rows": manifest.rows,
        "excluded_bad_rows": len(manifest.problems),
        "excluded_by_date": len(selection.no_recorded_at) + len(selection.outside_window),
        "excluded_beyond_limit": selection.beyond_limit,
        "excluded_unreadable_audio": len(unreadable),
        "scored_utterances": len(scored),
    }
    system = transcribe.system() if isinstance(transcribe, DescribedFileTranscriber) else {}
    return EvaluationResults(
        created_at=clock().isoformat(timespec="seconds"),
        manifest=str(manifest.path),
        model={**identity, **system, **(model or {})},
        options=opts.to_json(),
        settings=_settings(manifest, transcribe, opts, host),
        selection=selection.to_json(),
        overall=summarize(scored, bootstrap=opts.bootstrap, budget_ms=opts.budget_ms),
        slices=tuple(slice_summaries(scored, opts.by, bootstrap=opts.bootstrap, budget_ms=opts.budget_ms)),
        utterances=tuple(scored),
        problems=problems,
        counts=counts,
        first_results=first_results_errors(scored, normalizer),
    )


def _settings(manifest: Manifest, transcribe: FileTranscriber, opts: EvalOptions,
              host: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        manifest_settings = manifest_fingerprint(manifest.path)
    except OSError:  # gone since it was read: the path is all there is
        manifest_settings = {"path": str(manifest.path)}
    settings: dict[str, Any] = {}
    if isinstance(transcribe, DescribedFileTranscriber):  # otherwise "not recorded"
        settings["transcription"] = transcribe.settings()
    return {
        **settings,
        "scoring": describe_normalizer(opts.normalizer),
        "manifest": manifest_settings,
        "host": dict(host) if host is not None else host_fingerprint(),
        "versions": package_versions(),
    }


def _note_model(identity: dict[str, str], transcript: FileTranscript) -> None:
    if transcript.model_version and identity.get("model_version", transcript.model_version) != transcript.model_version:
        logger.warning("model version changed during the run: %s -> %s",
                       identity["model_version"], transcript.model_version)
    if transcript.model_version:
        identity["model_id"] = transcript.model_id
        identity["model_version"] = transcript.model_version


def evaluate_manifest(
    manifest_path: str | Path,
    transcribe: FileTranscriber,
    *,
    window: DateWindow | None = None,
    options: EvalOptions | None = None,
    model: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    clock: Clock = utc_now,
    limit: int | None = None,
    host: Mapping[str, Any] | None = None,
) -> EvaluationResults:
    """Load, select (by `window`, then the first `limit` rows), check the slice keys, and `evaluate`."""
    opts = options or EvalOptions()
    manifest = load_manifest(manifest_path)
    selection = select(manifest.utterances, window).limited(limit)
    check_slice_keys(selection.utterances, opts.by)
    return evaluate(manifest, selection, transcribe, options=opts, model=model, progress=progress, clock=clock,
                    host=host)
