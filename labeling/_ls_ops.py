"""Label Studio operations: create a project, import clips, lint annotations, export a manifest.

Each operation checks the server, the key and the project before it writes anything, and writes its
output in one step (a single import call, a file renamed into place), so a failure leaves nothing half
written.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from labeling._canonical import Canonicaliser
from labeling._clips import Clip, local_files_url, read_clips, storage_dirs
from labeling._errors import InputError, LabelStudioError
from labeling._guidelines import guidelines_html
from labeling._lint import Linter
from labeling._ls_client import LabelStudioSession
from labeling._ls_config import Mode, label_config, prediction_result
from labeling._ls_tasks import (
    META_KEY,
    TaskRecord,
    existing_utt_ids,
    fetch_tasks,
    lint_annotation,
    merge_lint_meta,
)
from labeling._normalize import Normalizer
from labeling._review import chosen_annotation, feedback_fields, initial_fields
from labeling._spec import ConventionSpec

__all__ = [
    "AnnotatorLintStats",
    "ExportResult",
    "ImportResult",
    "LintRun",
    "ProjectInfo",
    "ReviewResult",
    "export_manifest",
    "import_clips",
    "init_project",
    "lint_project",
    "purge_subject",
    "review_task",
]

logger = logging.getLogger(__name__)

USER_EDIT_VERSION = "user-edit"  # the model version of a pre-annotation that is what a user edited a result into


@dataclass(frozen=True, kw_only=True)
class ProjectInfo:
    """A created project."""

    project_id: int
    title: str
    mode: Mode
    convention: str


def init_project(
    session: LabelStudioSession, spec: ConventionSpec, *, title: str, mode: Mode,
    annotations_per_task: int = 1,
) -> ProjectInfo:
    """Create a transcription project with the generated guidelines; low-confidence tasks come first."""
    session.user_id()
    project = session.call(
        f"create project {title!r}", session.client.projects.create,
        title=title,
        description=f"Audio transcription ({mode}); convention {spec.label}",
        label_config=label_config(mode, spec.label),
        expert_instruction=guidelines_html(spec),
        show_instruction=True,
        sampling="Uncertainty sampling",
        maximum_annotations=annotations_per_task,
        show_overlap_first=annotations_per_task > 1,
    )
    logger.info("created project %s (%s, %s)", project.id, mode, spec.label)
    return ProjectInfo(project_id=int(project.id or 0), title=title, mode=mode, convention=spec.label)


@dataclass(frozen=True, kw_only=True)
class ImportResult:
    """What an import added, and what it skipped because the project had it."""

    task_ids: tuple[int, ...]
    predictions: int
    storages_created: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # utterance ids already in the project


def _project_mode(project: Any) -> Mode:
    return "segments" if 'perRegion="true"' in (project.label_config or "") else "clip"


def import_clips(
    session: LabelStudioSession, project_id: int, manifest: Path, *, canonicaliser: Canonicaliser | None,
) -> ImportResult:
    """Import the clips of a JSON-lines manifest as tasks, the model output as pre-annotations.

    Idempotent: a line whose utterance id (``utt_id``) the project already has is skipped, so a rerun
    after a failure, or of a grown file, adds only what is new. All or nothing: when a step after the
    tasks were created fails, they are deleted again (and the storages this import added), so a failed
    import leaves the project as it was.

    Tasks are sent lowest confidence first; the project serves them by uncertainty sampling, so the least
    confident clips reach annotators first. ``canonicaliser`` (when given) rewrites the model text into the
    convention before it is shown.
    """
    document_root = session.config.document_root
    clips = read_clips(manifest, document_root=document_root)  # validates everything before any write
    project = session.check_project(project_id)
    mode = _project_mode(project)
    there = existing_utt_ids(session, project_id)
    skipped = tuple(c.utt_id for c in clips if c.utt_id in there)
    clips = [c for c in clips if c.utt_id not in there]
    if not clips:
        logger.info("nothing to import into project %d: its tasks hold all %d lines", project_id, len(skipped))
        return ImportResult(task_ids=(), predictions=0, storages_created=(), skipped=skipped)
    clips.sort(key=lambda c: (c.confidence if c.confidence is not None else -1.0, c.line))
    tasks = [_task(clip, mode, document_root, canonicaliser) for clip in clips]
    created = _ensure_storages(session, project_id, storage_dirs(clips, document_root))
    try:
        response = session.call(
            f"import {len(tasks)} tasks into project {project_id}", session.client.projects.import_tasks,
            project_id, request=tasks, return_task_ids=True,
        )
    except LabelStudioError:
        _drop_storages(session, created)
        raise
    task_ids = tuple(int(t) for t in (getattr(response, "task_ids", None) or []))
    # Uncertainty sampling orders by score only the predictions of the project's model version; Label
    # Studio accepts only a version that some prediction of the project has.
    versions = Counter(p["model_version"] for t in tasks for p in t.get("predictions", [])
                       if p.get("model_version") and p["model_version"] != USER_EDIT_VERSION)
    if versions and project.model_version != versions.most_common(1)[0][0]:
        try:
            session.call(f"set the model version of project {project_id}", session.client.projects.update,
                         project_id, model_version=versions.most_common(1)[0][0])
        except LabelStudioError:
            _drop_tasks(session, task_ids)
            _drop_storages(session, created)
            raise
    logger.info("imported %d tasks into project %d (%d already there)", len(task_ids), project_id, len(skipped))
    return ImportResult(
        task_ids=task_ids, predictions=sum(1 for t in tasks if t.get("predictions")),
        storages_created=tuple(path for _, path in created), skipped=skipped,
    )


def _task(clip: Clip, mode: Mode, document_root: Path, canonicaliser: Canonicaliser | None) -> dict[str, Any]:
    data: dict[str, Any] = {**clip.extra, **initial_fields(), "utt_id": clip.utt_id,
                            "audio": local_files_url(clip.audio_path, document_root),
                            "audio_path": str(clip.audio_path)}
    for key, value in (("start_s", clip.start_s), ("end_s", clip.end_s), ("model_text", clip.text),
                       ("confidence", clip.confidence), ("model_version", clip.model_version)):
        if value is not None:
            data[key] = value
    task: dict[str, Any] = {"data": data}
    if clip.text is not None:
        def shown(text: str) -> str:
            return canonicaliser.canonicalise(text) if canonicaliser is not None else text

        regions = [(s.start_s, s.end_s, shown(s.text)) for s in clip.segments]
        result = prediction_result(mode, shown(clip.text), start_s=clip.start_s, end_s=clip.end_s, regions=regions)
        if result:
            prediction: dict[str, Any] = {"result": result}
            if clip.confidence is not None:
                prediction["score"] = clip.confidence
            if clip.model_version:
                prediction["model_version"] = clip.model_version
            task["predictions"] = [prediction]
    user_text = clip.extra.get("user_text")
    if isinstance(user_text, str) and user_text.strip():  # what the user edited the result into (request log)
        edited = prediction_result(mode, user_text, start_s=clip.start_s, end_s=clip.end_s, regions=[])
        if edited:
            task.setdefault("predictions", []).append({"result": edited, "model_version": USER_EDIT_VERSION})
    return task


def _drop_tasks(session: LabelStudioSession, task_ids: Iterable[int]) -> None:
    for task_id in task_ids:
        try:
            session.call(f"remove task {task_id}", session.client.tasks.delete, str(task_id))
        except LabelStudioError as exc:
            logger.warning("could not roll back task %s: %s", task_id, exc)


def _ensure_storages(session: LabelStudioSession, project_id: int, dirs: list[Path]) -> list[tuple[int, str]]:
    """Local-files storages so Label Studio may serve the audio (it checks a storage covers each file)."""
    local = session.client.import_storage.local
    existing = session.call(f"list the storages of project {project_id}", local.list, project=project_id)
    covered = [Path(s.path) for s in existing if s.path]
    created: list[tuple[int, str]] = []
    for directory in dirs:
        if any(directory == c or c in directory.parents for c in covered):
            continue
        try:
            storage = session.call(
                f"add local-files storage {directory}", local.create,
                project=project_id, path=str(directory), title=f"audio {directory.name}", use_blob_urls=False,
            )
        except LabelStudioError:
            _drop_storages(session, created)
            raise
        created.append((int(storage.id), str(directory)))
        covered.append(directory)
    return created


def _drop_storages(session: LabelStudioSession, created: list[tuple[int, str]]) -> None:
    for storage_id, path in created:
        try:
            session.call(f"remove storage {path}", session.client.import_storage.local.delete, storage_id)
        except LabelStudioError as exc:
            logger.warning("could not roll back storage %s: %s", path, exc)


@dataclass(kw_only=True)
class AnnotatorLintStats:
    """Violations of one annotator across a project."""

    annotator: str
    annotations: int = 0
    annotations_with_errors: int = 0
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    failing_tasks: list[int] = field(default_factory=list)  # tasks whose annotation by them has errors

    @property
    def violations_per_annotation(self) -> float:
        """Errors and warnings per annotation."""
        return (self.errors + self.warnings) / self.annotations if self.annotations else 0.0


@dataclass(frozen=True, kw_only=True)
class LintRun:
    """Result of linting a whole project."""

    tasks: int
    annotations: int
    tasks_updated: int
    annotators: tuple[AnnotatorLintStats, ...]


def lint_project(
    session: LabelStudioSession, project_id: int, linter: Linter, *, write_meta: bool = True
) -> LintRun:
    """Lint every annotation of the project and write the result into each task's meta."""
    records = list(fetch_tasks(session, project_id))  # read everything first
    stats: dict[str, AnnotatorLintStats] = {}
    updates: list[tuple[TaskRecord, dict[str, Any], dict[str, Any]]] = []
    annotations = 0
    for task in records:
        results: dict[int, dict[str, Any]] = {}
        for record in task.annotations:
            result = lint_annotation(linter, record)
            results[record.annotation_id] = result
            annotations += 1
            annotator = stats.setdefault(record.annotator, AnnotatorLintStats(annotator=record.annotator))
            _count(annotator, result, task.task_id)
        meta = merge_lint_meta(task.meta, linter.spec.label, results, replace_all=True)
        data = {**task.data, **feedback_fields(task.data, meta[META_KEY])}
        if meta != task.meta or data != task.data:
            updates.append((task, meta, data))
    if write_meta:
        for task, meta, data in updates:
            session.call(f"write the lint result of task {task.task_id}", session.client.tasks.update,
                         str(task.task_id), meta=meta, data=data)
    ordered = tuple(sorted(stats.values(), key=lambda s: (-s.violations_per_annotation, s.annotator)))
    return LintRun(tasks=len(records), annotations=annotations,
                   tasks_updated=len(updates) if write_meta else 0, annotators=ordered)


def _count(stats: AnnotatorLintStats, result: dict[str, Any], task_id: int) -> None:
    stats.annotations += 1
    stats.errors += int(result["errors"])
    stats.warnings += int(result["warnings"])
    stats.infos += int(result["infos"])
    stats.annotations_with_errors += int(result["errors"] > 0)
    stats.by_rule.update(v["rule"] for v in result["violations"])
    if result["errors"] > 0:
        stats.failing_tasks.append(task_id)


# Task data written by `_task` for Label Studio's own use, not carried into the exported lines.
_TASK_OWN = frozenset({"audio", "audio_path", "model_text", "confidence", "model_version", "start_s", "end_s",
                       "clips"})


@dataclass(frozen=True, kw_only=True)
class ReviewResult:
    """A reviewer's decision on one task, as written into it."""

    task_id: int
    status: str
    annotation_id: int | None
    feedback: str


def review_task(
    session: LabelStudioSession, project_id: int, task_id: int, *, accept: bool,
    annotation_id: int | None = None, note: str = "",
) -> ReviewResult:
    """Accept an annotation of the task (the latest unless ``annotation_id``; with two annotators, the
    adjudication export follows) or send the task back to its annotator with ``note``. Written into task
    data (`_review`), where the annotator sees it with the convention findings."""
    session.check_project(project_id)
    task = next((t for t in fetch_tasks(session, project_id) if t.task_id == task_id), None)
    if task is None:
        raise InputError(f"project {project_id} has no task {task_id}")
    if not task.annotations:
        raise InputError(f"task {task_id} has no annotation to review")
    if annotation_id is None:
        annotation_id = max(task.annotations, key=lambda a: (a.updated_at, a.annotation_id)).annotation_id
    elif annotation_id not in {a.annotation_id for a in task.annotations}:
        ids = ", ".join(str(a.annotation_id) for a in task.annotations)
        raise InputError(f"task {task_id} has no annotation {annotation_id} (it has {ids})")
    review = {"review_status": "accepted" if accept else "returned",
              "review_annotation": annotation_id if accept else None, "review_note": note}
    fields = feedback_fields(task.data, task.meta.get(META_KEY), review=review)
    session.call(f"write the review of task {task_id}", session.client.tasks.update, str(task_id),
                 data={**task.data, **fields})
    return ReviewResult(task_id=task_id, status=str(review["review_status"]),
                        annotation_id=annotation_id if accept else None, feedback=str(fields["feedback"]))


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    """What an export wrote, and the annotated tasks it left out (and why)."""

    lines: int
    left_out: dict[str, list[int]]  # "returned" / "disputed": task ids


def manifest_lines(
    tasks: Iterable[TaskRecord], spec: ConventionSpec, *, all_annotations: bool,
    left_out: dict[str, list[int]] | None = None,
) -> Iterable[dict[str, Any]]:
    """Segment-level manifest lines: one per transcribed segment of the chosen annotations.

    Each line is an evaluation manifest row (`asr eval` reads it): ``utt_id`` (the task's, with
    ``@START-END`` for a region of a segments project, and ``#ANNOTATION`` with ``all_annotations``),
    ``audio``, ``start_s``/``end_s``, the canonical ``text``, and the task's data (``tags``,
    ``recorded_at``, ``speaker`` ...) carried through.

    One annotation per task unless ``all_annotations``: the one a reviewer accepted, else the latest when
    the annotations say the same words. A task sent back and not corrected, or whose annotators disagree
    on what was said and nobody adjudicated (`asr label review --accept`), is left out and its id added
    to ``left_out[reason]``.
    """
    canonicaliser, linter, normalizer = Canonicaliser(spec), Linter(spec), Normalizer(spec)
    for task in tasks:
        carried = {k: v for k, v in task.data.items() if k not in _TASK_OWN}
        base = str(task.data.get("utt_id") or f"task-{task.task_id}")
        if all_annotations:
            chosen = list(task.annotations)
        else:
            annotation, why = chosen_annotation(task, normalizer)
            chosen = [annotation] if annotation is not None else []
            if why in ("returned", "disputed") and left_out is not None:
                left_out.setdefault(why, []).append(task.task_id)
        for record in chosen:
            for index, segment in enumerate(record.segments):
                utt_id = base
                if segment.region_id is not None:
                    utt_id += f"@{segment.start_s:g}-{'' if segment.end_s is None else f'{segment.end_s:g}'}"
                if all_annotations:
                    utt_id += f"#{record.annotation_id}"
                span = {} if segment.end_s is None else {"duration": round(segment.end_s - segment.start_s, 3)}
                yield {
                    **carried,
                    **span,  # the segment's, not the recording's
                    "utt_id": utt_id,
                    "id": f"{task.task_id}-{record.annotation_id}-{index}",
                    "task_id": task.task_id, "annotation_id": record.annotation_id,
                    "audio": task.data.get("audio_path") or task.data.get("audio"),
                    "start_s": segment.start_s, "end_s": segment.end_s,
                    "text": canonicaliser.canonicalise(segment.text), "raw_text": segment.text,
                    "annotator": record.annotator,
                    "convention": spec.name, "convention_version": spec.version,
                    "violations": len(linter.lint(segment.text)),
                }


def export_manifest(
    session: LabelStudioSession, project_id: int, spec: ConventionSpec, out: Path | TextIO, *,
    all_annotations: bool = False,
) -> ExportResult:
    """Write the segment-level JSON-lines manifest (`manifest_lines`).

    Tasks without annotations are left out (Label Studio's own ASR_MANIFEST export gives them another
    task's text). A file is written to a temporary name and renamed, so it is never half written.
    """
    left_out: dict[str, list[int]] = {}
    lines = [json.dumps(line, ensure_ascii=False) + "\n"
             for line in manifest_lines(fetch_tasks(session, project_id), spec, all_annotations=all_annotations,
                                        left_out=left_out)]
    result = ExportResult(lines=len(lines), left_out=left_out)
    if not isinstance(out, Path):
        out.writelines(lines)
        return result
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def purge_subject(session: LabelStudioSession, project_id: int, subject_id: str) -> tuple[int, ...]:
    """Delete every task of the project whose data names `subject_id` (a user who asked to be forgotten:
    `asr logs purge --subject` removes them from the request log, this from the review queue). Returns
    the deleted task ids."""
    if not subject_id:
        raise InputError("--subject: empty; give the pseudonymous subject id the client sent")
    session.check_project(project_id)
    doomed = tuple(t.task_id for t in fetch_tasks(session, project_id) if t.data.get("subject_id") == subject_id)
    for task_id in doomed:
        session.call(f"delete task {task_id}", session.client.tasks.delete, str(task_id))
    logger.info("deleted %d task(s) of subject %s from project %d", len(doomed), subject_id, project_id)
    return doomed
