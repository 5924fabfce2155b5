"""`asr eval` end to end through the client VAD and an in-process recognizer (a constant engine, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import vad
from asr_service.cli import main
from tests.asr_service.evaluation.manifests import PHRASES, write_manifest
from tests.fakes import ConstantEngine, SecondPassEngine
from tests.paths import ESPEAK_SAMPLE


@pytest.fixture()
def manifest(espeak_dir: Path, tmp_path: Path) -> Path:
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
    rows: list[dict[str, object]] = [
        {"audio": str(espeak_dir / name), "text": text, "recorded_at": f"2025-06-{10 + i:02d}",
         "tags": ["synthetic", "short" if i else "greeting"], "device": f"dev{i % 2}"}
        for i, (name, text) in enumerate(PHRASES.items())
    ]
    rows.append({"audio": "broken.wav", "text": "cannot be read", "recorded_at": "2025-06-20", "tags": ["synthetic"]})
    rows.append({"audio": str(espeak_dir / "hello.wav"), "text": "undated", "utt_id": "undated"})
    return write_manifest(tmp_path / "dev.jsonl", rows)


def test_eval_in_process_writes_results_and_report(
    manifest: Path, tmp_path: Path, constant_engine: type[ConstantEngine], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    code = main(["eval", str(manifest), "--from", "2025-06-01", "--to", "2025-06-30", "--by", "tags", "device",
                 "--out", str(out), "--no-progress", "--resamples", "200"])
    assert code == 0
    captured = capsys.readouterr()
    assert "excluded manifest line 4: unreadable audio" in captured.err
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["summary"]["scored_utterances"] == 3 and data["summary"]["excluded_unreadable_audio"] == 1
    assert data["selection"]["excluded_no_recorded_at"] == 1
    assert data["model"]["model_version"] == "constant-1" and data["model"]["transcriber"] == "in-process"
    hello = data["utterances"][0]
    assert hello["hypothesis"] == "hello world" and hello["words"]["errors"] == 0  # "Hello world." normalised
    assert hello["clips"] and hello["clips"][0]["latency_ms"] > 0  # measured by the recognizer
    assert constant_engine.calls >= 3
    # "good morning everybody" vs "hello world": 2 S + 1 D; "go forward 10 meters" ("go forward 1 0 meters"
    # after the default normaliser) vs "hello world": 2 S + 3 D
    assert data["summary"]["substitutions"] == 4 and data["summary"]["deletions"] == 4
    assert data["summary"]["wer"] == pytest.approx(8 / 10)
    assert {s["value"] for s in data["slices"] if s["key"] == "device"} == {"dev0", "dev1"}
    assert (out / "report.html").is_file() and (out / "wer_by_slice.png").is_file()
    assert "tags=greeting" in captured.out and "wrote" in captured.out


def test_eval_empty_selection_and_bad_flags_exit_2(
    manifest: Path, tmp_path: Path, constant_engine: type[ConstantEngine], capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x")
    assert main(["eval", str(manifest), "--from", "2030-01-01", "--out", out, "--no-progress"]) == 2
    assert "empty selection" in capsys.readouterr().err
    assert main(["eval", str(manifest), "--by", "colour", "--out", out, "--no-progress"]) == 2
    assert "colour" in capsys.readouterr().err
    assert main(["eval", str(manifest), "--since", "soon", "--out", out]) == 2
    assert main(["eval", str(manifest), "--normalizer", "nope", "--out", out]) == 2
    assert main(["eval", str(tmp_path / "absent.jsonl"), "--out", out]) == 2
    assert main(["eval", str(manifest)]) == 2  # --out is required
    assert not (tmp_path / "x").exists()


def test_eval_through_a_server_measures_the_serving_path(
    manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from asr_service.config import ServerConfig
    from asr_service.server import BackgroundServer

    server = BackgroundServer(ServerConfig(port=0, budget_ms=450.0), engine_factory=ConstantEngine).start()
    try:
        out = tmp_path / "served"
        code = main(["eval", str(manifest), "--server", server.target, "--by", "device", "--out", str(out),
                     "--no-progress", "--resamples", "100"])
    finally:
        server.stop(0)
    assert code == 0
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["model"]["transcriber"] == f"server {server.target}"
    assert data["model"]["model_version"] == "constant-1"
    assert data["options"]["budget_ms"] == 450.0  # the server's budget, not a default
    # what the server says of itself is recorded, with the VAD options the client cut the clips with
    assert data["model"]["server_limits"]["budget_ms"] == 450.0
    assert [(m["model_version"], m["config_hash"]) for m in data["model"]["server_models"]] == [("constant-1", "0")]
    assert data["settings"]["transcription"]["vad"]["pre_padding_ms"] == 300
    assert data["summary"]["scored_utterances"] == 4 and data["summary"]["excluded_unreadable_audio"] == 1
    clip = data["utterances"][0]["clips"][0]
    assert clip["round_trip_ms"] >= clip["latency_ms"] > 0  # the client's round trip includes the server's time


def test_segment_rows_are_cut_out_and_scored_apart(
    espeak_dir: Path, tmp_path: Path, constant_engine: type[ConstantEngine]
) -> None:
    # Two utterances in one recording, as a segments project exports them: each row is its stretch only.
    first, second = (vad.read_audio(espeak_dir / name) for name in ("hello.wav", "morning.wav"))
    gap = np.zeros(16_000, dtype=np.int16)
    sf.write(tmp_path / "talk.wav", np.concatenate([first, gap, second]), 16_000, subtype="PCM_16")
    end_1 = first.shape[0] / 16_000
    start_2 = end_1 + 1.0
    manifest = write_manifest(tmp_path / "segments.jsonl", [
        {"audio": "talk.wav", "start_s": 0.0, "end_s": end_1, "text": "hello world", "tags": ["a"]},
        {"audio": "talk.wav", "start_s": start_2, "end_s": start_2 + second.shape[0] / 16_000,
         "text": "good morning everybody", "tags": ["b"]},
        {"audio": "talk.wav", "start_s": 3.0, "end_s": 2.0, "text": "backwards"},
    ])
    out = tmp_path / "eval"
    assert main(["eval", str(manifest), "--out", str(out), "--no-progress", "--resamples", "50"]) == 0
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    ids = [u["utt_id"] for u in data["utterances"]]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(i.startswith("talk.wav@") for i in ids)
    assert data["summary"]["excluded_bad_rows"] == 1  # end before start: listed, not scored
    for row, utt in zip(([0.0, end_1], [start_2, start_2 + second.shape[0] / 16_000]), data["utterances"],
                        strict=True):
        assert utt["duration_s"] == pytest.approx(row[1] - row[0])
        # the clips lie within the segment, timed from its start: the whole recording was not transcribed
        assert utt["clips"] and utt["clips"][-1]["end_s"] <= row[1] - row[0] + 0.01
    assert data["utterances"][0]["words"]["errors"] == 0  # the constant engine says "hello world"


@pytest.mark.parametrize("through", ["in-process", "server"])
def test_eval_with_revisions_scores_each_file_after_its_revisions(
    tmp_path: Path, second_pass_engine: None, through: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # four sentences, four clips, 15 s of clips: one block, whose second pass replaces all four texts
    manifest = write_manifest(tmp_path / "talks.jsonl", [
        {"audio": str(ESPEAK_SAMPLE), "text": "all of the clips heard together as one", "tags": ["talk"]}])
    server = None
    flags: list[str] = []
    if through == "server":
        from asr_service.config import ServerConfig
        from asr_service.server import BackgroundServer

        server = BackgroundServer(ServerConfig(port=0), engine_factory=SecondPassEngine).start()
        flags = ["--server", server.target]
    printed: dict[str, list[str]] = {}
    try:
        runs = {}
        for name, extra in (("clips", []), ("revised", ["--revisions"])):
            out = tmp_path / name
            assert main(["eval", str(manifest), *flags, *extra, "--out", str(out), "--no-progress",
                         "--resamples", "50"]) == 0
            runs[name] = json.loads((out / "results.json").read_text(encoding="utf-8"))
            printed[name] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("revisions:")]
    finally:
        if server is not None:
            server.stop(0)
    clips, revised = (runs[k]["utterances"][0] for k in ("clips", "revised"))
    assert clips["hypothesis"] == "one clip one clip one clip one clip"  # each clip answered alone
    assert revised["hypothesis"] == "all of the clips heard together as one" and revised["words"]["errors"] == 0
    assert [c["text"] for c in revised["clips"]] == ["one clip"] * 4  # the clips keep their first results
    calls = runs["revised"]["settings"]["transcription"]["calls"]
    assert calls.startswith("one session per file, asking for revisions")
    assert runs["clips"]["settings"]["transcription"]["calls"] == "one recognize_clip per clip"
    # the summary also says what the clips' first results alone scored (all 8 words wrong: 100 %)
    first = runs["clips"]["summary"]["wer"]
    assert printed == {"clips": [], "revised": [
        f"revisions: WER 0.00 % after them, {100 * first:.2f} % for the clips' first results alone "
        f"(S{runs['clips']['summary']['substitutions']} D{runs['clips']['summary']['deletions']} "
        f"I{runs['clips']['summary']['insertions']})"]}
    # results.json keeps it: the revised run's first results are what the clips run scored, word for word
    assert runs["clips"]["summary"]["first_results"] is None
    stored = runs["revised"]["summary"]["first_results"]
    assert stored["wer"] == pytest.approx(first) == pytest.approx(1.0)
    assert {k: stored[k] for k in ("reference_words", "substitutions", "deletions", "insertions")} == {
        "reference_words": runs["clips"]["summary"]["reference_words"],
        **{k: runs["clips"]["summary"][k] for k in ("substitutions", "deletions", "insertions")}}


def test_revisions_need_a_transcriber_that_takes_sessions() -> None:
    from asr_service.evaluation import file_transcriber

    class Unary:
        def recognize_clip(self, clip: vad.Clip, *, clip_id: str = "") -> None:
            raise AssertionError("not called")

        def close(self) -> None:
            pass

    with pytest.raises(ValueError, match="revisions: Unary takes no sessions"):
        file_transcriber(Unary(), revisions=True)  # type: ignore[arg-type]
