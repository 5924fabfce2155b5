"""Agreement between annotators and convention consistency, on records built in the test."""

from __future__ import annotations

import json

import pytest

from labeling import compute_agreement, error_rate, load_spec, report_html, report_json, report_markdown
from labeling._ls_config import Segment
from labeling._ls_tasks import AnnotationRecord, TaskRecord


def task(task_id: int, model: str, *texts: tuple[str, str]) -> TaskRecord:
    annotations = tuple(
        AnnotationRecord(task_id=task_id, annotation_id=task_id * 10 + i, annotator=who,
                         segments=(Segment(start_s=0.0, end_s=None, text=text),), updated_at=f"2026-01-0{i + 1}")
        for i, (who, text) in enumerate(texts)
    )
    return TaskRecord(task_id=task_id, data={}, model_text=model, annotations=annotations, meta={})


TASKS = [
    task(1, "um today's weather", ("ann", "Um, today's weather."), ("bob", "um today's weather")),
    task(2, "it is sunny", ("ann", "it is sunny"), ("bob", "it was rainy")),
    task(3, "today's weather", ("ann", "today's weather")),
    task(4, "um today's weather", ("bob", "today's weather")),
    task(5, "no overlap", ("ann", "No overlap!")),
]


def test_error_rate_edges() -> None:
    assert error_rate("", "") == 0.0
    assert error_rate("", "a") == 1.0
    assert error_rate("a b", "") == 1.0
    assert error_rate("a b c d", "a x c d") == pytest.approx(0.25)
    assert error_rate("ab", "ac", unit="char") == pytest.approx(0.5)


def test_raw_versus_content_gap_separates_convention_from_content() -> None:
    report = compute_agreement(TASKS, load_spec())
    assert report.tasks == 5 and report.tasks_with_overlap == 2
    by_task = {t.task_id: t for t in report.task_agreement}
    # Task 1: same words, different writing -> raw disagreement, none in content.
    assert by_task[1].raw_wer == pytest.approx(2 / 3)
    assert by_task[1].content_wer == 0.0 and by_task[1].normalised_wer == 0.0
    assert by_task[1].convention_gap_wer == pytest.approx(2 / 3)
    # Task 2: a content disagreement survives.
    assert by_task[2].content_wer == pytest.approx(2 / 3)
    assert by_task[2].convention_gap_wer == 0.0
    assert [t.task_id for t in report.worst(2)] == [2, 1]  # raw WER ties; content disagreement first


def test_a_filler_heard_by_one_is_content_and_digits_against_words_is_writing() -> None:
    report = compute_agreement([
        task(1, "forced aligner", ("ann", "forced aligner"), ("bob", "uh forced aligner")),
        task(2, "nine oh two one oh", ("ann", "Zip code 90210."), ("bob", "zip code nine oh two one oh")),
    ], load_spec())
    by_task = {t.task_id: t for t in report.task_agreement}
    # the scoring normaliser drops the "uh", but one annotator heard it: a disagreement of content
    assert by_task[1].normalised_wer == 0.0 and by_task[1].content_wer == pytest.approx(1 / 2)
    assert by_task[1].convention_gap_wer == 0.0
    # the same sounds, one written as digits against the convention: writing, not content
    assert by_task[2].raw_wer > 0.5 and by_task[2].content_wer == 0.0


def test_per_annotator_violation_rates() -> None:
    report = compute_agreement(TASKS, load_spec())
    stats = {a.annotator: a for a in report.annotators}
    assert stats["ann"].annotations == 4 and stats["ann"].annotations_with_violations == 2
    assert stats["ann"].violation_rate == 0.5
    assert stats["bob"].annotations == 3 and stats["bob"].violation_rate == 0.0


def test_cross_task_conflicts_same_model_text_different_writing() -> None:
    report = compute_agreement([*TASKS, task(6, "um today's weather", ("cy", "UM -- today's weather!"))], load_spec())
    # Tasks 1, 4, 6: the model says "(um) today's weather". The humans who heard the "um" wrote the same
    # words three ways; task 4's annotator did not hear it, which is content, not writing.
    assert len(report.conflicts) == 1
    conflict = report.conflicts[0]
    assert conflict.normalised_text == "um today's weather"  # the content form: the "um" was heard
    assert conflict.variants == {"UM -- today's weather!": [6], "Um, today's weather.": [1],
                                 "um today's weather": [1]}


def test_reports_render() -> None:
    report = compute_agreement(TASKS, load_spec())
    data = json.loads(json.dumps(report_json(report)))
    assert data["convention"] == "asr-default@2.0.0" and data["worst_tasks"] == [2, 1]
    md = report_markdown(report)
    assert "| 1 | 66.7 % | 0.0 % | 0.0 % | 66.7 % |" in md
    html = report_html(report)
    assert "<h1>Annotator agreement: convention asr-default@2.0.0</h1>" in html
    assert "Um, today&#x27;s weather." in html


def test_html_report_embeds_the_same_worst_tasks_as_asked() -> None:
    import html as html_lib
    import re

    report = compute_agreement(TASKS, load_spec())
    page = report_html(report, worst_n=1)
    embedded = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert embedded is not None
    assert json.loads(html_lib.unescape(embedded.group(1)))["worst_tasks"] == [2]
