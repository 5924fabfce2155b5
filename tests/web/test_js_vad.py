"""The browser's VAD (web/src/segmenter.js with the WASM WebRTC VAD) cuts the same clips as vad/ on the same
WAVs, run under node's test runner (web/test/segmenter.test.js) against the clips vad.Segmenter cut here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr_service.webapp._silero import install
from tests.paths import JFK_SAMPLE, REPO_ROOT, SHARED_SPEECH
from tests.vad.signals import F, bursts, energy_options
from tests.web._speech import build_speech_wav, python_clips
from vad import VadOptions, read_audio
from vad.detectors import SileroDetector

WEB = REPO_ROOT / "web"
NODE = shutil.which("node")

# (name, options as vad/ names them, the same in the JS names): defaults; 10 ms frames, mode 3 and a
# short max_clip_s that forces splits; the energy detector with loudness normalisation
CASES = (
    ("defaults", {}, {}),
    ("splits", {"frame_ms": 10, "aggressiveness": 3, "max_clip_s": 2.0, "min_speech_ms": 100},
     {"frameMs": 10, "aggressiveness": 3, "maxClipS": 2.0, "minSpeechMs": 100}),
    ("energy+normalize", {"detector": "energy", "energy_threshold_dbfs": -35.0, "normalize_dbfs": -20.0,
                          "pre_padding_ms": 150, "post_padding_ms": 500},
     {"detector": "energy", "energyThresholdDbfs": -35.0, "normalizeDbfs": -20.0, "prePaddingMs": 150,
      "postPaddingMs": 500}),
    # Silero (onnxruntime-web in node, onnxruntime here) with a short max_clip_s that forces splits
    ("silero", {"detector": "silero", "frame_ms": 32, "max_clip_s": 3.0},
     {"detector": "silero", "frameMs": 32, "maxClipS": 3.0}),
)


def silero_probabilities(wav: Path) -> list[float]:
    """Silero's speech probability for every whole 512-sample frame of `wav`, from sample 0."""
    detector = SileroDetector(0.5)
    pcm = read_audio(wav)
    out = []
    for k in range(pcm.size // 512):
        detector.classify(np.ascontiguousarray(pcm[k * 512:(k + 1) * 512].reshape(1, 512)))
        out.append(detector.last_probability)
    return out


def test_the_js_vad_cuts_the_clips_of_the_python_vad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if NODE is None:
        pytest.skip("needs node (Debian's nodejs) for the browser client's tests")
    if not (WEB / "node_modules" / "@ricky0123" / "vad-web").is_dir():
        pytest.skip("needs web/node_modules: run `npm ci` in web/ (scripts/test does when npm is there)")
    monkeypatch.setenv("ASR_SILERO_DIR", str(tmp_path / "silero"))
    model = next(p for p in install(from_node_modules=WEB / "node_modules") if p.suffix == ".onnx")
    wavs = [JFK_SAMPLE]
    if (SHARED_SPEECH / "manifest.jsonl").is_file():  # the browser test's WAV too
        rows = [json.loads(line) for line in (SHARED_SPEECH / "manifest.jsonl").read_text().splitlines() if line]
        wavs.append(build_speech_wav(SHARED_SPEECH, rows, tmp_path / "speech.wav").path)
    cases = []
    for wav in wavs:
        for name, py_options, js_options in CASES:
            clips = python_clips(wav, VadOptions(**py_options))  # type: ignore[arg-type]
            assert clips, f"{wav.name} {name}: vad/ cut no clip; the comparison would be empty"
            case = {"name": f"{wav.name} {name}", "wav": str(wav), "options": js_options, "clips": clips}
            if py_options.get("detector") == "silero":
                case |= {"silero_model": str(model), "probabilities": silero_probabilities(wav)}
            cases.append(case)
    # a max_clip_s cut past the last voiced frame, and the next clip's pre-padding reaching behind it (the
    # segmenters used to drop those samples between two pushes): tone bursts for the energy detector
    bursts_wav = tmp_path / "split_then_pre_padding.wav"
    sf.write(bursts_wav, bursts(200, [(50, 100), (114, 150)]), 16_000, subtype="PCM_16")
    burst_clips = python_clips(bursts_wav, energy_options(max_clip_s=2.0))
    assert [c["start_sample"] for c in burst_clips] == [40 * F, 104 * F]
    cases.append({"name": "bursts: pre-padding behind a cut", "wav": str(bursts_wav),
                  "options": {"detector": "energy", "frameMs": 30, "maxClipS": 2.0}, "clips": burst_clips})
    assert any(c["stats"]["split"] for case in cases for c in case["clips"]), "no case exercises the split"
    silero = [case for case in cases if "probabilities" in case]
    assert silero and any(c["stats"]["split"] for case in silero for c in case["clips"]), "Silero never splits"
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run([NODE, "--test", "--test-reporter=tap", "test/segmenter.test.js"], cwd=WEB,
                          capture_output=True, text=True, timeout=300,
                          env={"ASR_VAD_CASES": str(tmp_path / "cases.json"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# skipped 0" in done.stdout, done.stdout[-3000:]
