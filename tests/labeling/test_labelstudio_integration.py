"""Against a real Label Studio: init, import with pre-annotations, two annotators, webhook, lint, export,
agreement, and the failure modes (bad token, unknown project, bad input) that must leave nothing written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labeling import (
    Annotator,
    Canonicaliser,
    InputError,
    LabelStudioAuthError,
    LabelStudioConfig,
    LabelStudioNotFound,
    LabelStudioSession,
    Linter,
    Normalizer,
    WebhookConfig,
    WebhookReceiver,
    add_annotator,
    compute_agreement,
    export_manifest,
    fetch_tasks,
    import_clips,
    init_project,
    lint_project,
    load_spec,
    register_webhook,
    review_task,
)
from labeling._review import review_queue
from tests.labeling.wavs import write_wav

pytestmark = pytest.mark.labelstudio
SPEC = load_spec()


def textarea(text: str) -> list[dict[str, Any]]:
    return [{"from_name": "transcription", "to_name": "audio", "type": "textarea", "value": {"text": [text]}}]


def region(rid: str, start_s: float, end_s: float, text: str) -> list[dict[str, Any]]:
    value = {"start": start_s, "end": end_s, "channel": 0}
    return [
        {"id": rid, "from_name": "segment", "to_name": "audio", "type": "labels",
         "value": {**value, "labels": ["speech"]}},
        {"id": rid, "from_name": "transcription", "to_name": "audio", "type": "textarea",
         "value": {**value, "text": [text]}},
    ]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    rows = [
        {"audio": "audio/high.wav", "text": "It is sunny.", "confidence": 0.9, "model_version": "tiny-v1"},
        {"audio": "audio/low.wav", "text": "Um, today's weather", "confidence": 0.2, "model_version": "tiny-v1",
         "speaker": "s1"},
        {"audio": "audio/mid.wav", "text": "I paid $5", "confidence": 0.5, "model_version": "tiny-v1"},
    ]
    for row in rows:
        write_wav(folder / row["audio"], 0.5)
    (folder / "clips.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder / "clips.jsonl"


@pytest.fixture(scope="module")
def annotator(ls_session: LabelStudioSession, run_id: str) -> Annotator:
    return add_annotator(ls_session, f"annotator-{run_id}@example.com", f"pw-{run_id}-long-enough")


@pytest.fixture(scope="module")
def project(ls_session: LabelStudioSession, run_id: str) -> int:
    return init_project(ls_session, SPEC, title=f"clips {run_id}", mode="clip", annotations_per_task=2).project_id


@pytest.fixture(scope="module")
def imported(ls_session: LabelStudioSession, project: int, clips: Path) -> tuple[int, ...]:
    return import_clips(ls_session, project, clips, canonicaliser=Canonicaliser(SPEC)).task_ids


@pytest.fixture(scope="module")
def receiver(ls_session: LabelStudioSession, project: int) -> Iterator[WebhookReceiver]:
    secret = "test-only-webhook-secret"  # Label Studio must send it, or every call is refused (401)
    hook = WebhookReceiver(WebhookConfig(port=0, secret=secret), Linter(SPEC), ls_session)
    hook.start()
    register_webhook(ls_session, project, hook.url, secret=secret)
    yield hook
    hook.stop()


def test_init_creates_project_with_config_and_guidelines(ls_session: LabelStudioSession, project: int) -> None:
    got = ls_session.client.projects.get(project)
    assert '<TextArea name="transcription" toName="audio"' in (got.label_config or "")
    assert "Transcription guidelines: asr-default (version 2.0.0)" in (got.expert_instruction or "")
    assert got.show_instruction is True
    assert got.sampling == "Uncertainty sampling"
    assert got.maximum_annotations == 2


def test_import_adds_tasks_with_pre_annotations_low_confidence_first(
    ls_session: LabelStudioSession, ls_config: LabelStudioConfig, project: int, imported: tuple[int, ...],
    clips: Path,
) -> None:
    assert len(imported) == 3
    tasks = {t.task_id: t for t in fetch_tasks(ls_session, project)}
    first = tasks[imported[0]]
    assert first.data["confidence"] == 0.2 and first.data["speaker"] == "s1"
    assert first.data["audio_path"] == str(clips.parent / "audio" / "low.wav")
    predictions = ls_session.client.predictions.list(task=imported[0])
    assert [(p.score, p.model_version) for p in predictions] == [(0.2, "tiny-v1")]
    assert predictions[0].result[0]["value"]["text"] == ["um today's weather"]  # canonicalised for annotators
    # Label Studio serves the audio through local-files serving.
    headers = {"Authorization": f"Token {ls_config.api_key}"}
    served = httpx.get(ls_config.url + first.data["audio"], headers=headers, timeout=10)
    assert served.status_code == 200 and served.content == (clips.parent / "audio" / "low.wav").read_bytes()
    # The least confident clip is served first.
    nxt = httpx.get(f"{ls_config.url}/api/projects/{project}/next", headers=headers, timeout=10)
    assert nxt.status_code == 200 and nxt.json()["id"] == imported[0]


def _wait_for_meta(session: LabelStudioSession, task_id: int, annotation_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        meta = session.client.tasks.get(str(task_id)).meta or {}
        result = meta.get("convention_lint", {}).get("annotations", {}).get(str(annotation_id))
        if result is not None:
            return dict(result)
        time.sleep(0.2)
    raise AssertionError(f"webhook never marked task {task_id} for annotation {annotation_id}")


def test_two_annotators_webhook_lint_export_agreement(
    ls_session: LabelStudioSession, ls_config: LabelStudioConfig, project: int, imported: tuple[int, ...],
    annotator: Annotator, receiver: WebhookReceiver, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    low, mid, high = imported
    second = LabelStudioSession.connect(annotator.config(ls_config))
    request.addfinalizer(second.close)
    assert second.user_id() == annotator.user_id != ls_session.user_id()
    admin_email = ls_session.client.users.whoami().email

    a1 = ls_session.client.annotations.create(low, result=textarea("um today's weather"))
    a2 = second.client.annotations.create(low, result=textarea("Um, today's weather."))
    a3 = second.client.annotations.create(mid, result=textarea("i paid five dollars"))

    # Webhook: each annotation is linted and its task marked, without any lint command.
    assert _wait_for_meta(ls_session, low, a1.id)["errors"] == 0
    marked = _wait_for_meta(ls_session, low, a2.id)
    assert marked["errors"] == 3 and marked["annotator"] == annotator.email
    assert {v["rule"] for v in marked["violations"]} == {"casing", "punctuation"}
    a2b = second.client.annotations.update(a2.id, result=textarea("um today's weather"))
    deadline = time.monotonic() + 15
    while _wait_for_meta(ls_session, low, a2b.id)["errors"] != 0:
        assert time.monotonic() < deadline, "ANNOTATION_UPDATED never re-marked the task"
        time.sleep(0.2)
    second.client.annotations.update(a2.id, result=textarea("Um, today's weather."))
    assert receiver.write_errors == 0
    # ...and where people see it: task data, shown above the transcript and as Data Manager columns
    deadline = time.monotonic() + 15
    while (data := ls_session.client.tasks.get(str(low)).data)["lint_status"] != "errors":
        assert time.monotonic() < deadline, "the webhook never wrote the feedback into the task data"
        time.sleep(0.2)
    assert data["lint_errors"] == 3 and "'Um' -> 'um'" in data["feedback"] and annotator.email in data["feedback"]
    assert ls_session.client.tasks.get(str(high)).data["lint_status"] == "unannotated"

    # Lint: every annotation, per-annotator report, meta of every annotated task.
    run = lint_project(ls_session, project, Linter(SPEC))
    assert (run.tasks, run.annotations) == (3, 3)
    stats = {s.annotator: s for s in run.annotators}
    assert stats[annotator.email].errors == 3 and stats[annotator.email].annotations == 2
    assert stats[admin_email].errors == 0
    assert ls_session.client.tasks.get(str(mid)).meta["convention_lint"]["annotations"][str(a3.id)]["errors"] == 0
    meta = ls_session.client.tasks.get(str(low)).meta["convention_lint"]
    assert meta["convention"] == "asr-default@2.0.0" and meta["errors"] == 3 and not meta["clean"]

    # Export: canonical text, annotator, convention; the unannotated task is left out.
    out = tmp_path / "manifest.jsonl"
    assert export_manifest(ls_session, project, SPEC, out, all_annotations=True).lines == 3
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {line["task_id"] for line in lines} == {low, mid}
    by_annotation = {line["annotation_id"]: line for line in lines}
    exported = by_annotation[a2.id]
    assert exported["text"] == "um today's weather" and exported["raw_text"] == "Um, today's weather."
    assert exported["annotator"] == annotator.email and exported["convention_version"] == "2.0.0"
    assert exported["audio"].endswith("audio/low.wav") and exported["start_s"] == 0.0
    assert export_manifest(ls_session, project, SPEC, tmp_path / "latest.jsonl").lines == 2

    # Agreement: the two annotations of `low` differ only by convention.
    report = compute_agreement(fetch_tasks(ls_session, project), SPEC)
    assert report.tasks_with_overlap == 1
    (agreement,) = report.task_agreement
    assert agreement.task_id == low and agreement.normalised_wer == 0.0 and agreement.raw_wer > 0.5


def test_segments_project_exports_regions(
    ls_session: LabelStudioSession, run_id: str, tmp_path: Path
) -> None:
    write_wav(tmp_path / "long" / "talk.wav", 4.0)
    manifest = tmp_path / "seg.jsonl"
    manifest.write_text(json.dumps({"audio": "long/talk.wav", "start_s": 0.5, "end_s": 2.0, "text": "Hello there",
                                    "confidence": 0.3, "model_version": "m"}) + "\n")
    project = init_project(ls_session, SPEC, title=f"segments {run_id}", mode="segments").project_id
    (task_id,) = import_clips(ls_session, project, manifest, canonicaliser=Canonicaliser(SPEC)).task_ids
    (prediction,) = ls_session.client.predictions.list(task=task_id)
    assert prediction.result[1]["value"] == {"start": 0.5, "end": 2.0, "channel": 0, "text": ["hello there"]}
    ls_session.client.annotations.create(
        task_id, result=region("r2", 2.5, 3.5, "General Kenobi!") + region("r1", 0.5, 2.0, "hello there"))
    out = tmp_path / "m.jsonl"
    assert export_manifest(ls_session, project, SPEC, out).lines == 2
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["start_s"], x["end_s"], x["text"]) for x in lines] == [
        (0.5, 2.0, "hello there"), (2.5, 3.5, "general kenobi")]


def test_review_adjudicates_disagreement_and_sends_back(
    ls_session: LabelStudioSession, ls_config: LabelStudioConfig, annotator: Annotator, run_id: str, clips: Path,
    tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    project = init_project(ls_session, SPEC, title=f"review {run_id}", mode="clip",
                           annotations_per_task=2).project_id
    low, mid, high = import_clips(ls_session, project, clips, canonicaliser=None).task_ids
    second = LabelStudioSession.connect(annotator.config(ls_config))
    request.addfinalizer(second.close)
    ls_session.client.annotations.create(mid, result=textarea("i paid five dollars"))
    theirs = second.client.annotations.create(mid, result=textarea("I paid $9"))  # heard another amount
    ls_session.client.annotations.create(low, result=textarea("um today's weather"))
    second.client.annotations.create(low, result=textarea("Um, today's weather."))  # same words
    ls_session.client.annotations.create(high, result=textarea("it's sunny"))

    # the disagreement on content waits for a reviewer and is not exported as if settled
    queue = review_queue(list(fetch_tasks(ls_session, project)), Normalizer(SPEC))
    assert [(i.task_id, i.reason) for i in queue] == [(mid, "disputed")]
    result = export_manifest(ls_session, project, SPEC, tmp_path / "before.jsonl")
    assert result.lines == 2 and result.left_out == {"disputed": [mid]}

    # the reviewer adjudicates: the second annotator heard it right
    review_task(ls_session, project, mid, accept=True, annotation_id=theirs.id)
    assert ls_session.client.tasks.get(str(mid)).data["review_status"] == "accepted"
    # ...and sends another task back, with the convention findings attached
    back = review_task(ls_session, project, high, accept=False, note="she says 'it is', not 'it's'")
    data = ls_session.client.tasks.get(str(high)).data
    assert data["review_status"] == "returned" and "she says 'it is'" in data["feedback"] == back.feedback
    after = export_manifest(ls_session, project, SPEC, tmp_path / "after.jsonl")
    lines = {json.loads(x)["task_id"]: json.loads(x) for x in (tmp_path / "after.jsonl").read_text().splitlines()}
    assert after.left_out == {"returned": [high]} and lines[mid]["text"] == "i paid nine dollars"
    with pytest.raises(InputError, match="has no annotation 1"):
        review_task(ls_session, project, mid, accept=True, annotation_id=1)


def test_failures_are_one_clear_error_and_write_nothing(
    ls_session: LabelStudioSession, ls_config: LabelStudioConfig, project: int, imported: tuple[int, ...],
    clips: Path, tmp_path: Path,
) -> None:
    with pytest.raises(LabelStudioNotFound, match="find project 987654"):
        import_clips(ls_session, 987654, clips, canonicaliser=None)
    bad = LabelStudioConfig(url=ls_config.url, api_key="0" * 40)
    with pytest.raises(LabelStudioAuthError, match="rejected the API key") as info:
        LabelStudioSession.connect(bad)
    assert "0" * 40 not in str(info.value)
    broken = clips.parent / "broken.jsonl"
    broken.write_text(clips.read_text() + '{"audio": "nope.wav"}\n')
    with pytest.raises(InputError, match=r"broken\.jsonl:4: audio file"):
        import_clips(ls_session, project, broken, canonicaliser=None)
    assert len(list(fetch_tasks(ls_session, project))) == len(imported)
    out = tmp_path / "never.jsonl"
    with pytest.raises(LabelStudioNotFound):
        export_manifest(ls_session, 987654, SPEC, out)
    assert not out.exists() and list(tmp_path.glob(".never.jsonl.*")) == []


def test_cli_against_the_server(ls_config: LabelStudioConfig, run_id: str, clips: Path, tmp_path: Path) -> None:
    env = {**os.environ, "LABEL_STUDIO_URL": ls_config.url, "LABEL_STUDIO_API_KEY": ls_config.api_key}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "labeling", "label", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    init = cli("init", "--title", f"cli {run_id}")
    assert init.returncode == 0, init.stderr
    project = str(json.loads(init.stdout)["project"])
    imported = cli("import", "--project", project, str(clips))
    assert imported.returncode == 0 and json.loads(imported.stdout)["tasks"] == 3
    lint = cli("lint", "--project", project)
    assert lint.returncode == 0 and lint.stdout.startswith("3 tasks, 0 annotations")
    out = tmp_path / "cli.jsonl"
    export = cli("export", "--project", project, "--out", str(out))
    assert export.returncode == 0 and out.read_text() == ""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = cli("webhook", "--project", project, "--port", str(taken.getsockname()[1]), "--no-register")
    assert busy.returncode == 2 and busy.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1:" in busy.stderr
    password_env = {**env, "ASR_ANNOTATOR_PASSWORD": f"pw-{run_id}-cli-long"}
    signed_up = subprocess.run([sys.executable, "-m", "labeling", "label", "add-annotator",
                                f"cli-{run_id}@example.com"], env=password_env, capture_output=True, text=True,
                               timeout=120, check=False)
    assert signed_up.returncode == 0, signed_up.stderr
    user = json.loads(signed_up.stdout)
    assert user["login_url"] == ls_config.url + "/user/login/" and "api_key" not in user
    missing = cli("lint", "--project", "987654")
    assert missing.returncode == 3 and "find project 987654" in missing.stderr
    env["LABEL_STUDIO_API_KEY"] = "0" * 40
    rejected = cli("lint", "--project", project)
    assert rejected.returncode == 3 and "rejected the API key" in rejected.stderr
    assert "0" * 40 not in rejected.stderr
