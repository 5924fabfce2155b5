"""Feedback and review state, kept in task data, where Label Studio shows it to annotators and reviewers.

Open-source Label Studio (1.23) shows task ``meta`` nowhere and has no review workflow. Task data is
visible: each field is a column of the Data Manager (filterable: ``lint_status`` is ``errors``,
``review_status`` is ``returned``), and the labeling config shows ``$feedback`` above the transcript
(`_ls_config.label_config`). The full lint result stays in meta (``convention_lint``) for tools; these
fields are what people read:

- ``lint_status``: ``unannotated``, ``clean``, ``warnings`` or ``errors`` (of the latest annotation);
- ``lint_errors``, ``lint_warnings``: its counts;
- ``review_status``: empty (not reviewed), ``accepted``, ``returned`` (sent back to the annotator),
  ``resubmitted`` (changed after it was sent back);
- ``review_annotation``: the annotation a reviewer accepted (which one `asr label export` takes when
  annotators disagree), ``review_note``: the reviewer's words;
- ``feedback``: all of it as one text: the findings (span, fix, why) and the review.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labeling._ls_tasks import AnnotationRecord, TaskRecord
from labeling._normalize import Normalizer

__all__ = [
    "FEEDBACK_FIELDS",
    "ReviewItem",
    "chosen_annotation",
    "feedback_fields",
    "initial_fields",
    "review_queue",
]

FEEDBACK_FIELDS = ("lint_status", "lint_errors", "lint_warnings", "review_status", "review_annotation",
                   "review_note", "feedback")
_SHOWN_FINDINGS = 8


def initial_fields() -> dict[str, Any]:
    """The fields of a task nobody has annotated yet (Label Studio needs ``feedback`` in every task
    whose config shows it)."""
    return {"lint_status": "unannotated", "lint_errors": 0, "lint_warnings": 0, "review_status": "",
            "review_annotation": None, "review_note": "", "feedback": "Not transcribed yet."}


def _latest(results: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    items = [(k, v) for k, v in results.items() if isinstance(v, dict)]
    if not items:
        return None
    return max(items, key=lambda kv: (str(kv[1].get("updated_at", "")), int(kv[0]) if kv[0].isdigit() else 0))


def feedback_fields(data: Mapping[str, Any], lint_meta: Mapping[str, Any] | None, *,
                    review: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The feedback fields from the task's lint meta (``convention_lint``) and its review state
    (``review``: the new decision, else the one in ``data``)."""
    fields = {**initial_fields(), **{k: data[k] for k in FEEDBACK_FIELDS if k in data}}
    if review is not None:
        fields.update(review)
    latest = _latest((lint_meta or {}).get("annotations") or {})
    lines: list[str] = []
    if latest is None:
        fields.update(lint_status="unannotated", lint_errors=0, lint_warnings=0)
        lines.append("Not transcribed yet.")
    else:
        _, result = latest
        errors, warnings = int(result.get("errors", 0)), int(result.get("warnings", 0))
        fields.update(lint_errors=errors, lint_warnings=warnings,
                      lint_status="errors" if errors else "warnings" if warnings else "clean")
        convention = (lint_meta or {}).get("convention", "")
        if errors or warnings:
            lines.append(f"Convention {convention}: {errors} error(s), {warnings} warning(s) in the transcript of "
                         f"{result.get('annotator', '?')}:")
            for item in list(result.get("violations") or [])[:_SHOWN_FINDINGS]:
                fix = item.get("fix")
                change = f" -> {fix!r}" if fix else " (yours to rewrite)" if fix is None else " -> remove it"
                lines.append(f"- {item.get('text', '')!r}{change}: {item.get('message', item.get('rule'))}")
            hidden = errors + warnings - min(errors + warnings, _SHOWN_FINDINGS)
            if hidden > 0:
                lines.append(f"- ... and {hidden} more")
        else:
            lines.append(f"Convention {convention}: no finding in the transcript of {result.get('annotator', '?')}.")
    status = fields.get("review_status") or ""
    if status:
        note = f": {fields['review_note']}" if fields.get("review_note") else ""
        lines.append({"accepted": "Review: accepted", "returned": "Review: sent back, please correct",
                      "resubmitted": "Review: corrected after it was sent back, waiting for the reviewer"}
                     .get(status, f"Review: {status}") + note)
    fields["feedback"] = "\n".join(lines)
    return fields


def after_resubmission(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The review state once an annotator submits again: a returned task is ``resubmitted``."""
    return {"review_status": "resubmitted"} if data.get("review_status") == "returned" else None


def _content_differs(annotations: Sequence[AnnotationRecord], normalizer: Normalizer) -> bool:
    return len({normalizer.content(a.text) for a in annotations}) > 1


def chosen_annotation(task: TaskRecord, normalizer: Normalizer) -> tuple[AnnotationRecord | None, str]:
    """The annotation that stands for a task, and why: ``accepted`` (a reviewer's choice), ``latest``
    (one annotation, or several that say the same), or none with ``returned`` (sent back, not fixed),
    ``disputed`` (annotators disagree on what was said and nobody adjudicated) or ``unannotated``."""
    annotations = list(task.annotations)
    if not annotations:
        return None, "unannotated"
    status = task.data.get("review_status")
    if status == "accepted":
        accepted = task.data.get("review_annotation")
        for annotation in annotations:
            if annotation.annotation_id == accepted:
                return annotation, "accepted"
    if status == "returned":
        return None, "returned"
    if _content_differs(annotations, normalizer):
        return None, "disputed"
    return max(annotations, key=lambda a: (a.updated_at, a.annotation_id)), "latest"


@dataclass(frozen=True, kw_only=True)
class ReviewItem:
    """A task a reviewer should look at, and why."""

    task_id: int
    reason: str  # "errors", "disputed", "resubmitted", "returned"
    annotators: tuple[str, ...]
    texts: tuple[str, ...]


def review_queue(tasks: Sequence[TaskRecord], normalizer: Normalizer) -> list[ReviewItem]:
    """Tasks waiting for a reviewer: annotators disagree on content, the latest transcript breaks the
    convention, or a sent-back task came back. Accepted tasks are done; returned ones wait for the
    annotator (listed last)."""
    items: list[ReviewItem] = []
    order = {"disputed": 0, "resubmitted": 1, "errors": 2, "returned": 3}
    for task in tasks:
        if not task.annotations:
            continue
        status = task.data.get("review_status") or ""
        if status == "accepted":
            continue
        _, why = chosen_annotation(task, normalizer)
        reason = (why if why in ("disputed", "returned") else "resubmitted" if status == "resubmitted"
                  else "errors" if task.data.get("lint_status") == "errors" else "")
        if reason:
            items.append(ReviewItem(task_id=task.task_id, reason=reason,
                                    annotators=tuple(a.annotator for a in task.annotations),
                                    texts=tuple(a.text for a in task.annotations)))
    return sorted(items, key=lambda i: (order[i.reason], i.task_id))
