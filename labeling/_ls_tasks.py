"""Reading tasks and annotations out of Label Studio into plain records, and the lint result in task meta."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from labeling._lint import Linter, Violation
from labeling._ls_client import LabelStudioSession
from labeling._ls_config import Segment, segments_of

__all__ = [
    "META_KEY",
    "AnnotationRecord",
    "TaskRecord",
    "annotation_record",
    "existing_utt_ids",
    "fetch_tasks",
    "lint_annotation",
    "merge_lint_meta",
]

#: Key under which the lint result lives in each task's ``meta``.
META_KEY = "convention_lint"
_MAX_VIOLATIONS_IN_META = 50


@dataclass(frozen=True, kw_only=True)
class AnnotationRecord:
    """One submitted annotation, reduced to what the labeling tools need."""

    task_id: int
    annotation_id: int
    annotator: str
    segments: tuple[Segment, ...]
    updated_at: str

    @property
    def text(self) -> str:
        """All segment texts, in time order, joined by spaces."""
        return " ".join(s.text for s in self.segments)


@dataclass(frozen=True, kw_only=True)
class TaskRecord:
    """One task with its data, the model's transcript and its (non-cancelled) annotations."""

    task_id: int
    data: Mapping[str, Any]
    model_text: str | None
    annotations: tuple[AnnotationRecord, ...]
    meta: Mapping[str, Any]


def _annotator_name(completed_by: object, users: Mapping[int, str]) -> str:
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if email:
            return str(email)
        completed_by = completed_by.get("id")
    if isinstance(completed_by, int):
        return users.get(completed_by, f"user-{completed_by}")
    return "unknown"


def annotation_record(
    task_id: int, annotation: Mapping[str, Any], data: Mapping[str, Any], users: Mapping[int, str]
) -> AnnotationRecord:
    """Build a record from an annotation as the API (or a webhook payload) gives it."""
    return AnnotationRecord(
        task_id=task_id,
        annotation_id=int(annotation["id"]),
        annotator=_annotator_name(annotation.get("completed_by"), users),
        segments=tuple(segments_of(annotation.get("result") or [], data)),
        updated_at=str(annotation.get("updated_at") or annotation.get("created_at") or ""),
    )


def fetch_users(session: LabelStudioSession) -> dict[int, str]:
    """User id to e-mail, for annotations that carry only an id."""
    users = session.call("list users", session.client.users.list)
    return {int(u.id): str(u.email or u.username or f"user-{u.id}") for u in users}


def fetch_tasks(session: LabelStudioSession, project_id: int) -> Iterator[TaskRecord]:
    """Every task of the project with its annotations (cancelled ones left out)."""
    session.check_project(project_id)
    users = fetch_users(session)
    pager: Iterable[Any] = session.call(
        f"list the tasks of project {project_id}", session.client.tasks.list,
        project=project_id, fields="all", page_size=100,
    )
    iterator = iter(pager)
    while True:
        task = session.call(f"read the tasks of project {project_id}", next, iterator, None)
        if task is None:
            return
        raw = task.model_dump()
        data = raw.get("data") or {}
        annotations = tuple(
            annotation_record(int(raw["id"]), a, data, users)
            for a in raw.get("annotations") or []
            if not a.get("was_cancelled")
        )
        yield TaskRecord(
            task_id=int(raw["id"]), data=data, model_text=_model_text(raw, data),
            annotations=annotations, meta=raw.get("meta") or {},
        )


def existing_utt_ids(session: LabelStudioSession, project_id: int) -> dict[str, int]:
    """The ``utt_id`` of every task of the project (task data), with its task id."""
    pager: Iterable[Any] = session.call(
        f"list the tasks of project {project_id}", session.client.tasks.list,
        project=project_id, fields="task_only", page_size=100,
    )
    iterator = iter(pager)
    found: dict[str, int] = {}
    while True:
        task = session.call(f"read the tasks of project {project_id}", next, iterator, None)
        if task is None:
            return found
        utt_id = (task.data or {}).get("utt_id")
        if utt_id is not None:
            found.setdefault(str(utt_id), int(task.id))


def _model_text(raw: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    if isinstance(data.get("model_text"), str):
        return str(data["model_text"])
    for prediction in raw.get("predictions") or []:
        segments = segments_of(prediction.get("result") or [], data)
        if segments:
            return " ".join(s.text for s in segments)
    return None


def lint_annotation(linter: Linter, record: AnnotationRecord) -> dict[str, Any]:
    """The lint result of one annotation, as stored in task meta (segment index + violation)."""
    items: list[dict[str, Any]] = []
    counts = {"error": 0, "warning": 0, "info": 0}
    # an annotation with no segment at all (no region drawn) is as empty as an empty text
    segments = record.segments or (Segment(start_s=0.0, end_s=None, text=""),)
    for index, segment in enumerate(segments):
        violations: list[Violation] = linter.lint(segment.text)
        for v in violations:
            counts[v.severity] += 1
            if len(items) < _MAX_VIOLATIONS_IN_META:
                items.append({"segment": index, **v.to_dict(segment.text)})
    return {
        "annotator": record.annotator,
        "updated_at": record.updated_at,
        "errors": counts["error"], "warnings": counts["warning"], "infos": counts["info"],
        "violations": items,
    }


def merge_lint_meta(
    meta: Mapping[str, Any], convention: str, results: Mapping[int, dict[str, Any]], *, replace_all: bool
) -> dict[str, Any]:
    """Task meta with the lint results of ``results`` (annotation id -> result) written in.

    ``replace_all`` drops results of annotations not in ``results`` (a full re-lint); a webhook merges.
    """
    previous = meta.get(META_KEY) if isinstance(meta.get(META_KEY), dict) else {}
    annotations: dict[str, Any] = {}
    if not replace_all and previous and previous.get("convention") == convention:
        annotations.update(previous.get("annotations") or {})
    annotations.update({str(k): v for k, v in results.items()})
    errors = sum(int(a.get("errors", 0)) for a in annotations.values())
    warnings = sum(int(a.get("warnings", 0)) for a in annotations.values())
    return {
        **meta,
        META_KEY: {
            "convention": convention, "errors": errors, "warnings": warnings,
            # nothing to check is not clean: an unannotated task has not passed
            "clean": bool(annotations) and errors == 0 and warnings == 0, "annotations": annotations,
        },
    }
