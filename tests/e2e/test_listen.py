"""`asr listen` as a user runs it: real speech played as a device, a real server, Ctrl-C as a real SIGINT.

No machine here has a microphone: `--play` feeds the same path a device does (the capture callback
on its own thread, in 100 ms blocks at the pace of speech), and the device layer's own errors are
checked against the real PortAudio, which sees no device here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_service.server import BackgroundServer
from tests.paths import ESPEAK_SAMPLE, JFK_SAMPLE
from tests.wer import wer

REFERENCE = JFK_SAMPLE.with_suffix(".txt").read_text(encoding="utf-8").strip()


def _listen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "asr_service.cli", "listen", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_listen_streams_each_clip_to_the_server_as_it_ends(server: BackgroundServer, tmp_path: Path) -> None:
    audio, rate = sf.read(JFK_SAMPLE, dtype="int16")
    assert rate == 16_000  # so that repeating each sample three times is 48 kHz
    laptop = tmp_path / "laptop-mic.wav"  # as a laptop's microphone delivers it: 48 kHz, two channels
    up = np.repeat(audio, 3)
    sf.write(laptop, np.stack([up, up], axis=1), 48_000, subtype="PCM_16")
    proc = _listen("--server", server.target, "--play", str(laptop), "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]  # only JSON on stdout
    assert len(records) >= 1 and [r["clip_id"] for r in records] == [str(i) for i in range(len(records))]
    assert all(r["file"] == str(laptop) for r in records)
    assert all(0 < r["latency_ms"]["round_trip"] < 5_000 for r in records)
    assert wer([REFERENCE], [" ".join(r["text"] for r in records)]) <= 0.10, records
    assert "end of input" in err and f"{len(records)} clip(s) from 11.0 s of audio" in err


@pytest.mark.slow
def test_listen_in_process_prints_each_revision_after_the_clips_it_covers(
    second_pass_engine: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from asr_service.cli import main

    audio, rate = sf.read(ESPEAK_SAMPLE, dtype="int16")  # two of its sentences, 1 s apart: 7.5 s played
    talk = tmp_path / "two-sentences.wav"
    sf.write(talk, np.concatenate([audio[: 5 * rate], np.zeros(rate, np.int16), audio[round(14.7 * rate):]]), rate)
    assert main(["listen", "--play", str(talk), "--json", "--revisions"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records[:-1]] == ["one clip", "one clip"]  # SecondPassEngine, in this process
    revision = records[-1]["revision"]
    assert revision["text"] == "all of the clips heard together as one" and revision["clip_ids"] == ["0", "1"]


@pytest.mark.slow
def test_listen_through_a_server_gets_the_revision_of_the_clips_before_a_pause_in_it(tmp_path: Path) -> None:
    from asr_service.config import ServerConfig
    from tests.fakes import SecondPassEngine

    audio, rate = sf.read(ESPEAK_SAMPLE, dtype="int16")
    first, second = audio[: 5 * rate], audio[round(14.7 * rate):]  # one clip each (the test above)
    silence = np.zeros(rate, np.int16)
    talk = tmp_path / "pause.wav"  # two sentences 1 s apart, a pause of 4 s, one more sentence
    sf.write(talk, np.concatenate([first, silence, second, *[silence] * 4, first]), rate)
    server = BackgroundServer(ServerConfig(port=0, shutdown_notice_s=0.0),
                              engine_factory=lambda options: SecondPassEngine()).start()
    try:
        proc = _listen("--server", server.target, "--play", str(talk), "--json", "--revisions")
        out, err = proc.communicate(timeout=120)
    finally:
        server.stop()
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    # played at the pace of speech: the revision of the first two clips comes in the pause, before the third
    assert [r.get("clip_id") or r["revision"]["clip_ids"] for r in records] == ["0", "1", ["0", "1"], "2"], records


@pytest.mark.slow
def test_ctrl_c_flushes_the_utterance_in_progress() -> None:
    proc = _listen("--play", str(JFK_SAMPLE), "--json")  # in-process engine
    assert proc.stderr is not None
    started = proc.stderr.readline()  # printed once the engine has loaded and the capture starts
    assert "listening to" in started, started
    time.sleep(4.5)  # mid-sentence: "... ask not what your country ..." runs on to ~7.9 s
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert records, f"the last clip was lost on Ctrl-C: {err}"
    last = records[-1]
    assert 3.5 < last["end_s"] < 7.5, last
    assert "fellow americans" in last["text"].lower(), last  # the words said before the stop
    assert "stopped:" in err and "Traceback" not in err


def test_missing_device_is_one_line_and_nonzero() -> None:
    pytest.importorskip("sounddevice", reason="the 'mic' extra (sounddevice + libportaudio2) is not installed")
    proc = _listen("--device", "9999")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("asr: error: no input device 9999"), err


def test_list_devices_says_what_is_there() -> None:
    pytest.importorskip("sounddevice", reason="the 'mic' extra (sounddevice + libportaudio2) is not installed")
    proc = _listen("--list-devices")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.startswith(("no input devices found", "*", " ")), out


def test_unreachable_server_is_one_line_and_nonzero() -> None:
    proc = _listen("--server", "127.0.0.1:1", "--play", str(JFK_SAMPLE))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("asr: error: server 127.0.0.1:1"), err
