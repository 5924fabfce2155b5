"""The loop end to end, as a team runs it, against a real server (the embedded model) and a real Label Studio:
traffic with and without consent -> only consented clips logged -> a user's edit logged -> the logged clips
imported (least confident first, twice: idempotent) -> annotated by two annotators -> linted -> exported ->
evaluated by week and by a client tag -> a subject purged, gone from the log store and from the next export."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import vad
from asr_service.cli import main
from asr_service.client import AsrClient
from asr_service.client._baseline import clips_of_pcm
from asr_service.config import RequestLogOptions, ServerConfig
from asr_service.request_log import read_rows
from asr_service.server import BackgroundServer
from labeling import Canonicaliser, LabelStudioConfig, LabelStudioSession, add_annotator, load_spec

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

SAID = {  # what each user says, as people talk to a voice assistant
    "alice": ("Set an alarm for six thirty tomorrow morning.", "Remind me to call the dentist on Tuesday."),
    "bob": ("What's the weather going to be like in Manchester?", "Play some quiet music in the kitchen."),
    "carol": ("Send a message to Sam saying I'm running late.",),  # consents to text only
    "dave": ("Turn the heating down a couple of degrees.",),  # no consent
}


def _say(text: str, path: Path) -> Any:
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    return vad.read_audio(path)


def _json_out(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return dict(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))


@pytest.fixture()
def ls_env(ls_config: LabelStudioConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", ls_config.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_config.api_key)
    monkeypatch.setenv("LABEL_STUDIO_DOCUMENT_ROOT", str(ls_config.document_root))


def test_consented_traffic_to_reviewed_dev_set_and_back_out(
    ls_env: None, ls_config: LabelStudioConfig, ls_session: LabelStudioSession, run_id: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng to synthesise speech (scripts/install-system-deps installs it)")
    log_dir = tmp_path / "request-log"
    # every consented result is kept here (sample_share 1), so the test knows what to expect; the
    # sampling policy itself is tested in tests/asr_service/request_log
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0,
                          request_log=RequestLogOptions(dir=str(log_dir), sample_share=1.0))
    consents = {"alice": "audio", "bob": "audio", "carol": "results", "dave": "none"}
    devices = {"alice": "pixel-7", "bob": "iphone-15", "carol": "pixel-7", "dave": "galaxy-s23"}
    results: dict[str, list[Any]] = {}
    server = BackgroundServer(config).start()
    try:
        for user, sentences in SAID.items():
            with AsrClient(server.target, logging_consent=consents[user], subject_id=f"u-{user}-{run_id}",
                           client_tags={"device": devices[user], "app_version": "4.2.0"}) as client:
                per_sentence = [clips_of_pcm(_say(text, tmp_path / f"{user}{i}.wav"), vad.VadOptions())
                                for i, text in enumerate(sentences)]
                assert [len(c) for c in per_sentence] == [1] * len(sentences)  # one utterance, one clip
                results[user] = list(client.stream([c[0] for c in per_sentence]))
                if user == "alice":  # she fixes the time the model got wrong, or confirms it
                    assert client.report_feedback(results[user][0], "edited", edited_text=SAID["alice"][0])
                if user == "dave":
                    assert not client.report_feedback(results[user][0], "accepted")  # counted, not kept
    finally:
        server.stop(5.0)

    logged = list(read_rows(log_dir))
    subjects = {r["subject_id"].split("-")[1] for r in logged}
    assert subjects == {"alice", "bob", "carol"}  # dave did not consent
    assert all(r.get("audio") for r in logged if r["consent"] == "audio")
    assert not any(r.get("audio") for r in logged if r["consent"] == "results")
    assert len(list(log_dir.rglob("*.wav"))) == sum(len(results[u]) for u in ("alice", "bob"))

    # the review queue: logged clips with audio, least confident first; a rerun adds nothing
    assert main(["label", "init", "--title", f"review {run_id}", "--annotations-per-task", "2"]) == 0
    project = str(_json_out(capsys)["project"])
    command = ["label", "import", "--project", project, "--from-log", str(log_dir), "--since", "7d",
               "--confidence-below", "1.01", "--limit", "50"]
    assert main(command) == 0
    imported = _json_out(capsys)
    assert imported["tasks"] == len(results["alice"]) + len(results["bob"])
    assert main(command) == 0
    assert _json_out(capsys)["tasks"] == 0
    tasks = [t.model_dump() for t in ls_session.client.tasks.list(project=int(project), fields="all")]
    edited = next(t for t in tasks if t["data"]["utt_id"] == results["alice"][0].result_id)
    assert [p["model_version"] for p in edited["predictions"]][1] == "user-edit"  # the user's text beside the model's

    # two annotators each type what was said, as the transcription convention writes it
    canonical = Canonicaliser(load_spec()).canonicalise
    said = {r.result_id: canonical(SAID[user][i]) for user in ("alice", "bob") for i, r in enumerate(results[user])}
    for name in ("ann", "ben"):
        annotator = add_annotator(ls_session, f"{name}-{run_id}@example.com", f"pw-{name}-{run_id}-long-enough")
        with LabelStudioSession.connect(annotator.config(ls_config)) as theirs:
            for task in tasks:
                model = task["predictions"][0]["result"]
                theirs.client.annotations.create(task["id"], result=[
                    {**item, "value": {**item["value"], "text": [said[task["data"]["utt_id"]]]}}
                    if item["type"] == "textarea" else item for item in model])
    assert main(["label", "lint", "--project", project, "--json"]) == 0
    lint = json.loads(capsys.readouterr().out)
    assert lint["annotations"] == 2 * len(tasks)

    exported = tmp_path / "dev" / "reviewed.jsonl"
    assert main(["label", "export", "--project", project, "--out", str(exported)]) == 0
    lines = [json.loads(x) for x in exported.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(tasks)
    assert all(x["recorded_at"] and x["client_device"] in ("pixel-7", "iphone-15") for x in lines)
    assert {x["text"] for x in lines} == set(said.values())  # the reviewed reference, not the model's text

    out = tmp_path / "eval"
    assert main(["eval", str(exported), "--by", "recorded_week", "client_device", "--since", "30d", "--out", str(out),
                 "--no-progress", "--resamples", "50"]) == 0
    evaluated = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert evaluated["summary"]["scored_utterances"] == len(lines)
    slices = {(s["key"], s["value"]) for s in evaluated["slices"]}
    assert {("client_device", "pixel-7"), ("client_device", "iphone-15")} <= slices
    assert any(key == "recorded_week" and value.startswith("20") for key, value in slices)
    assert evaluated["summary"]["wer"] < 0.5  # synthetic speech the model mostly gets right

    # bob asks to be forgotten: gone from the log store, and from the review project and so the next export
    bob = f"u-bob-{run_id}"
    assert main(["logs", "purge", str(log_dir), "--subject", bob]) == 0
    capsys.readouterr()
    assert not [r for r in read_rows(log_dir, kinds=("clip", "feedback")) if r["subject_id"] == bob]
    assert len(list(log_dir.rglob("*.wav"))) == len(results["alice"])
    assert main(["label", "purge", "--project", project, "--subject", bob]) == 0
    assert _json_out(capsys)["tasks_deleted"] == len(results["bob"])
    again = tmp_path / "dev" / "reviewed-after-purge.jsonl"
    assert main(["label", "export", "--project", project, "--out", str(again)]) == 0
    after = [json.loads(x) for x in again.read_text(encoding="utf-8").splitlines()]
    assert len(after) == len(results["alice"]) and not [x for x in after if x.get("subject_id") == bob]
