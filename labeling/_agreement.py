"""Agreement between annotators, and consistency of the convention across tasks.

For tasks with two or more annotations: WER/CER between each pair of annotators on the raw text, on
the content form and on the scoring form. The content form (`Normalizer.content`) is what the
convention says was heard: the canonical words, fillers, tags and partial words included. So a
disagreement that survives it is about content ("forced aligner" against "uh forced aligner": one
annotator heard an "uh"), and raw disagreement minus content disagreement is the part caused by writing
(casing, punctuation, spellings, digits against spoken digits). The scoring form drops fillers and tags
as WER does, so it says what the disagreement costs in WER, not what it is. Across tasks: clips whose
model transcripts match but whose human transcripts say the same words written differently.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import jiwer

from labeling._lint import Linter
from labeling._ls_tasks import TaskRecord
from labeling._normalize import Normalizer
from labeling._spec import ConventionSpec

__all__ = [
    "AgreementReport",
    "AnnotatorStats",
    "ConventionConflict",
    "PairScore",
    "TaskAgreement",
    "compute_agreement",
    "error_rate",
]


def error_rate(reference: str, hypothesis: str, *, unit: str = "word") -> float:
    """WER (``unit="word"``) or CER (``"char"``) of ``hypothesis`` against ``reference``; 0 when both empty."""
    ref = " ".join(reference.split())
    hyp = " ".join(hypothesis.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp) if unit == "word" else jiwer.cer(ref, hyp))


@dataclass(frozen=True, kw_only=True)
class PairScore:
    """Disagreement between two annotations of one task (the earlier one is the reference)."""

    annotator_a: str
    annotator_b: str
    raw_wer: float
    raw_cer: float
    content_wer: float
    normalised_wer: float
    normalised_cer: float


@dataclass(frozen=True, kw_only=True)
class TaskAgreement:
    """Mean pairwise disagreement on one task."""

    task_id: int
    annotations: int
    raw_wer: float
    content_wer: float
    normalised_wer: float
    raw_cer: float
    normalised_cer: float
    convention_gap_wer: float  # raw minus content: disagreement in writing only
    texts: dict[str, str]
    pairs: tuple[PairScore, ...]


@dataclass(frozen=True, kw_only=True)
class AnnotatorStats:
    """How often one annotator breaks the convention."""

    annotator: str
    annotations: int
    errors: int
    warnings: int
    annotations_with_violations: int

    @property
    def violation_rate(self) -> float:
        """Share of this annotator's annotations with at least one error or warning."""
        return self.annotations_with_violations / self.annotations if self.annotations else 0.0


@dataclass(frozen=True, kw_only=True)
class ConventionConflict:
    """Tasks whose model transcripts match and whose human transcripts are the same words, written
    differently."""

    model_text: str
    normalised_text: str
    variants: dict[str, list[int]]


@dataclass(frozen=True, kw_only=True)
class AgreementReport:
    """Everything ``asr label agreement`` reports."""

    convention: str
    tasks: int
    tasks_with_overlap: int
    mean_raw_wer: float
    mean_content_wer: float
    mean_normalised_wer: float
    mean_convention_gap_wer: float
    task_agreement: tuple[TaskAgreement, ...]
    annotators: tuple[AnnotatorStats, ...]
    conflicts: tuple[ConventionConflict, ...]

    def worst(self, n: int = 10) -> list[TaskAgreement]:
        """The ``n`` tasks where annotators disagree most (raw WER, then content)."""
        return sorted(self.task_agreement, key=lambda t: (-t.raw_wer, -t.content_wer, t.task_id))[:n]


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def compute_agreement(tasks: Iterable[TaskRecord], spec: ConventionSpec) -> AgreementReport:
    """Agreement, per-annotator violations and cross-task convention conflicts."""
    normalizer, linter = Normalizer(spec), Linter(spec)
    records = list(tasks)
    agreements = [_task_agreement(t, normalizer) for t in records if len(t.annotations) >= 2]
    return AgreementReport(
        convention=spec.label,
        tasks=len(records),
        tasks_with_overlap=len(agreements),
        mean_raw_wer=_mean(a.raw_wer for a in agreements),
        mean_content_wer=_mean(a.content_wer for a in agreements),
        mean_normalised_wer=_mean(a.normalised_wer for a in agreements),
        mean_convention_gap_wer=_mean(a.convention_gap_wer for a in agreements),
        task_agreement=tuple(agreements),
        annotators=_annotator_stats(records, linter),
        conflicts=_conflicts(records, normalizer),
    )


def _task_agreement(task: TaskRecord, normalizer: Normalizer) -> TaskAgreement:
    annotations = sorted(task.annotations, key=lambda a: (a.updated_at, a.annotation_id))
    pairs = []
    for a, b in itertools.combinations(annotations, 2):
        norm_a, norm_b = normalizer.normalize(a.text), normalizer.normalize(b.text)
        pairs.append(PairScore(
            annotator_a=a.annotator, annotator_b=b.annotator,
            raw_wer=error_rate(a.text, b.text), raw_cer=error_rate(a.text, b.text, unit="char"),
            content_wer=error_rate(normalizer.content(a.text), normalizer.content(b.text)),
            normalised_wer=error_rate(norm_a, norm_b), normalised_cer=error_rate(norm_a, norm_b, unit="char"),
        ))
    raw_wer, content_wer = _mean(p.raw_wer for p in pairs), _mean(p.content_wer for p in pairs)
    return TaskAgreement(
        task_id=task.task_id, annotations=len(annotations), raw_wer=raw_wer, content_wer=content_wer,
        normalised_wer=_mean(p.normalised_wer for p in pairs),
        raw_cer=_mean(p.raw_cer for p in pairs), normalised_cer=_mean(p.normalised_cer for p in pairs),
        convention_gap_wer=max(0.0, raw_wer - content_wer),
        texts={f"{a.annotator}#{a.annotation_id}": a.text for a in annotations}, pairs=tuple(pairs),
    )


def _annotator_stats(records: list[TaskRecord], linter: Linter) -> tuple[AnnotatorStats, ...]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for task in records:
        for annotation in task.annotations:
            errors = warnings = 0
            for segment in annotation.segments:
                for violation in linter.lint(segment.text):
                    errors += violation.severity == "error"
                    warnings += violation.severity == "warning"
            c = counts[annotation.annotator]
            c[0] += 1
            c[1] += errors
            c[2] += warnings
            c[3] += int(errors + warnings > 0)
    stats = [AnnotatorStats(annotator=name, annotations=c[0], errors=c[1], warnings=c[2],
                            annotations_with_violations=c[3]) for name, c in counts.items()]
    return tuple(sorted(stats, key=lambda s: (-s.violation_rate, s.annotator)))


def _conflicts(records: list[TaskRecord], normalizer: Normalizer) -> tuple[ConventionConflict, ...]:
    by_model: dict[str, list[TaskRecord]] = defaultdict(list)
    for task in records:
        if task.model_text and task.annotations:
            key = normalizer.normalize(task.model_text)
            if key:
                by_model[key].append(task)
    conflicts = []
    for _, tasks in sorted(by_model.items()):
        if len(tasks) < 2:
            continue
        groups: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        for task in tasks:
            for annotation in task.annotations:
                written = " ".join(annotation.text.split())
                # same content ("um" heard or not is content), written differently
                groups[normalizer.content(annotation.text)][written].add(task.task_id)
        for normalised, variants in sorted(groups.items()):
            task_ids = set().union(*variants.values())
            if len(variants) > 1 and len(task_ids) > 1:
                conflicts.append(ConventionConflict(
                    model_text=tasks[0].model_text or "", normalised_text=normalised,
                    variants={text: sorted(ids) for text, ids in sorted(variants.items())},
                ))
    return tuple(conflicts)
