"""The commands chained as a team runs them, against a real Label Studio and the embedded model:
transcribe-batch -> label import (twice) -> annotate -> label export -> eval --by tags --since."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import vad
from asr_service.cli import main
from labeling import LabelStudioConfig, LabelStudioError, LabelStudioSession, import_clips, init_project, load_spec

pytestmark = pytest.mark.labelstudio
SPEC = load_spec()
TALK = ("Please send the report to the whole team by Friday.", "I will book a room for the review on Monday.")
COMMAND = "Turn off the lights in the kitchen."


def _say(text: str, path: Path) -> np.ndarray[Any, np.dtype[np.int16]]:
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    return vad.read_audio(path)


@pytest.fixture(scope="module")
def dev_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest beside its audio: a two-sentence talk (one file, two utterances) and a command."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng to synthesise speech (scripts/install-system-deps installs it)")
    root = tmp_path_factory.mktemp("chain")
    audio = root / "data" / "audio"
    audio.mkdir(parents=True)
    first, second = (_say(t, root / f"part{i}.wav") for i, t in enumerate(TALK))
    sf.write(audio / "talk.wav", np.concatenate([first, np.zeros(16_000, np.int16), second]), 16_000,
             subtype="PCM_16")
    _say(COMMAND, audio / "command.wav")
    recent = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    rows = [
        {"audio": "audio/talk.wav", "utt_id": "talk-1", "tags": ["meeting"], "recorded_at": recent},
        {"audio": "audio/command.wav", "tags": ["command"], "recorded_at": recent, "speaker": "s2"},
    ]
    manifest = root / "data" / "dev.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def batch(dev_set: Path) -> Path:
    # written in another folder than the manifest's: its audio paths must still lead to the files
    out = dev_set.parent.parent / "work" / "batch.jsonl"
    assert main(["transcribe-batch", str(dev_set), "-o", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture()
def ls_env(ls_config: LabelStudioConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", ls_config.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_config.api_key)
    monkeypatch.setenv("LABEL_STUDIO_DOCUMENT_ROOT", str(ls_config.document_root))


def _json_out(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return dict(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))


def test_batch_import_annotate_export_eval(
    ls_env: None, ls_session: LabelStudioSession, run_id: str, dev_set: Path, batch: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [json.loads(x) for x in batch.read_text(encoding="utf-8").splitlines()]
    talk = next(r for r in rows if r.get("utt_id") == "talk-1")
    assert len(talk["clips"]) == 2 and isinstance(talk["confidence"], float)  # a file-level score to sort by
    assert talk["tags"] == ["meeting"] and talk["recorded_at"]  # the manifest's fields came along

    # clip project: one task per file, the whole transcript; a rerun adds nothing
    assert main(["label", "init", "--title", f"chain clip {run_id}"]) == 0
    project = str(_json_out(capsys)["project"])
    assert main(["label", "import", "--project", project, str(batch)]) == 0
    first = _json_out(capsys)
    assert first["tasks"] == 2 and first["predictions"] == 2
    assert main(["label", "import", "--project", project, str(batch)]) == 0
    again = _json_out(capsys)
    assert again["tasks"] == 0 and again["skipped_already_there"] == 2
    predictions = [p for t in ls_session.client.tasks.list(project=int(project), fields="all")
                   for p in t.model_dump()["predictions"]]
    assert len(predictions) == 2 and all(p["score"] is not None for p in predictions)  # uncertainty ordering

    # segments project: one region per clip, neighbours not overlapping
    assert main(["label", "init", "--title", f"chain segments {run_id}", "--mode", "segments"]) == 0
    segments = str(_json_out(capsys)["project"])
    assert main(["label", "import", "--project", segments, str(batch)]) == 0
    assert _json_out(capsys)["tasks"] == 2
    tasks = {t.model_dump()["data"]["utt_id"]: t.model_dump()
             for t in ls_session.client.tasks.list(project=int(segments), fields="all")}
    regions = sorted((r["value"]["start"], r["value"]["end"]) for r in tasks["talk-1"]["predictions"][0]["result"]
                     if r["type"] == "textarea")
    assert len(regions) == 2 and regions[0][1] <= regions[1][0]
    command_id = next(u for u in tasks if u != "talk-1")
    assert command_id.endswith("audio/command.wav")  # no utt_id in the manifest: the path names the task

    # an annotator types what was said: per region of the talk, the sentence said in it
    talk_task = tasks["talk-1"]
    result = []
    for item in talk_task["predictions"][0]["result"]:
        if item["type"] == "textarea":
            index = sorted(regions).index((item["value"]["start"], item["value"]["end"]))
            item = {**item, "value": {**item["value"], "text": [TALK[index]]}}
        result.append(item)
    ls_session.client.annotations.create(talk_task["id"], result=result)
    command_task = tasks[command_id]
    ls_session.client.annotations.create(command_task["id"], result=[
        {**item, "value": {**item["value"], "text": [COMMAND]}} if item["type"] == "textarea" else item
        for item in command_task["predictions"][0]["result"]])

    exported = tmp_path / "export" / "dev-labelled.jsonl"
    assert main(["label", "export", "--project", segments, "--out", str(exported)]) == 0
    lines = [json.loads(x) for x in exported.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3  # two regions of the talk, one of the command
    assert len({x["utt_id"] for x in lines}) == 3 and all(x["recorded_at"] and x["tags"] for x in lines)
    assert {x["speaker"] for x in lines if x["tags"] == ["command"]} == {"s2"}

    out = tmp_path / "eval"
    assert main(["eval", str(exported), "--by", "tags", "--since", "7d", "--out", str(out), "--no-progress",
                 "--resamples", "50", "--normalizer", "convention"]) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["summary"]["scored_utterances"] == 3 and results["summary"]["excluded_bad_rows"] == 0
    assert {s["value"] for s in results["slices"] if s["key"] == "tags"} == {"meeting", "command"}
    # each region was transcribed alone: its words only, not the whole talk's
    for utt in results["utterances"]:
        assert utt["duration_s"] < 6.0
    meeting = next(s for s in results["slices"] if s["value"] == "meeting")
    assert meeting["wer"] < 0.3, meeting  # a region scored against the whole talk's words would be > 1


def test_a_failed_import_leaves_nothing_and_transcribe_json_imports(
    ls_session: LabelStudioSession, run_id: str, dev_set: Path, batch: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    project = init_project(ls_session, SPEC, title=f"rollback {run_id}", mode="clip").project_id
    storages_before = len(ls_session.client.import_storage.local.list(project=project))

    def refuse(*args: object, **kwargs: object) -> None:
        raise LabelStudioError("set the model version: HTTP 400 (injected)")

    with monkeypatch.context() as patch:
        patch.setattr(ls_session.client.projects, "update", refuse)
        with pytest.raises(LabelStudioError, match="injected"):
            import_clips(ls_session, project, batch, canonicaliser=None)
    assert list(ls_session.client.tasks.list(project=project)) == []
    assert len(ls_session.client.import_storage.local.list(project=project)) == storages_before
    assert len(import_clips(ls_session, project, batch, canonicaliser=None).task_ids) == 2  # then it works

    # `asr transcribe --json` lines (one per clip, the path under "file") import as they are
    assert main(["transcribe", "--json", str(dev_set.parent / "audio" / "talk.wav")]) == 0
    clip_lines = tmp_path / "clips.jsonl"
    clip_lines.write_text(capsys.readouterr().out, encoding="utf-8")
    result = import_clips(ls_session, project, clip_lines, canonicaliser=None)
    assert len(result.task_ids) == 2 and not result.skipped  # the clips are not the whole file
    by_id = {t.model_dump()["data"]["utt_id"]: t.model_dump() for t in ls_session.client.tasks.list(project=project)}
    clip_tasks = [t for u, t in by_id.items() if "@" in u]
    assert len(clip_tasks) == 2 and all(t["data"]["model_text"] and t["data"]["confidence"] for t in clip_tasks)
