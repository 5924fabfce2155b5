"""`LiveClips`: the client VAD over a live input gives the file path's clips, flushes on stop, never hoards."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import vad
from asr_service.client import FileInput, LiveClips
from tests.paths import ESPEAK_SAMPLE, JFK_SAMPLE


def test_live_clips_are_the_clips_of_the_whole_file() -> None:
    live = LiveClips(FileInput(ESPEAK_SAMPLE, speed=30.0))  # 22.05 kHz: resampled as it streams
    clips = list(live)
    expected = list(vad.iter_file_clips(ESPEAK_SAMPLE))
    assert len(clips) == len(expected) == 4 and live.clips == 4
    for got, want in zip(clips, expected, strict=True):
        # whole-file resampling and streaming resampling differ by a few samples at most
        assert abs(got.start_s - want.start_s) <= 0.03 and abs(got.end_s - want.end_s) <= 0.03
    assert live.ended_by_input and not live.stop_requested and live.dropped_s == 0.0
    assert live.audio_s == pytest.approx(sf.info(ESPEAK_SAMPLE).duration, abs=0.05)


def test_a_16k_input_gives_identical_clips() -> None:
    clips = list(LiveClips(FileInput(JFK_SAMPLE, block_ms=30, speed=50.0)))
    expected = list(vad.iter_file_clips(JFK_SAMPLE))
    assert [c.to_bytes() for c in clips] == [c.to_bytes() for c in expected]


def test_stop_mid_utterance_flushes_the_utterance_in_progress() -> None:
    live = LiveClips(FileInput(JFK_SAMPLE, speed=5.0))
    # JFK speaks without a pause long enough to cut from 0 to ~7.9 s: stop at ~4-5 s of audio
    timer = threading.Timer(0.9, live.stop)
    timer.start()
    clips = list(live)
    timer.join()
    assert live.stop_requested and not live.ended_by_input
    assert 3.0 < live.audio_s < 8.0, live.audio_s
    assert clips, "the utterance in progress was lost"
    last = clips[-1]
    assert last.speech_start_s < 0.5  # the clip holds the speech from its beginning
    assert last.end_s == pytest.approx(live.audio_s, abs=0.35)  # up to where the capture stopped


class _Burst:
    """An input that delivers all its blocks at once, faster than anything can consume them."""

    name, sample_rate_hz, channels = "burst", 16_000, 1

    def __init__(self, blocks: int, block: bytes) -> None:
        self.blocks, self.block, self.stopped = blocks, block, 0

    def start(self, on_block: Callable[[bytes], None], on_end: Callable[[], None]) -> None:
        for _ in range(self.blocks):
            on_block(self.block)
        on_end()

    def stop(self) -> None:
        self.stopped += 1


def test_a_consumer_that_falls_behind_drops_and_counts_instead_of_hoarding() -> None:
    rng = np.random.default_rng(7)
    block = (rng.normal(0, 3000, 1600)).astype(np.int16).tobytes()  # 100 ms
    source = _Burst(blocks=50, block=block)
    live = LiveClips(source, max_backlog_s=2.0)
    list(live)
    assert live.dropped_s == pytest.approx(3.0)  # 5 s delivered, 2 s held
    assert live.audio_s == pytest.approx(2.0, abs=0.05)  # everything kept went through the VAD
    assert source.stopped >= 1
    with pytest.raises(RuntimeError, match="once"):
        list(live)
    with pytest.raises(ValueError, match="max_backlog_s"):
        LiveClips(source, max_backlog_s=0)


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_speech_played_as_a_laptop_microphone_transcribes_as_the_file_path(
    tmp_path: Path, speech_manifest: list[dict[str, object]], shared_speech: Path
) -> None:
    """Real speech at 44.1 kHz stereo, played as a device in 100 ms blocks: transcripts match the file path's."""
    import soxr

    from asr_service.client import LocalTranscriber
    from tests.wer import wer

    rows = [r for r in speech_manifest if 20.0 < float(r["duration"]) <= 60.0][:3]  # type: ignore[arg-type]
    assert len(rows) == 3, "the shared set has fewer long recordings than this test expects"
    transcriber = LocalTranscriber()
    refs, live_hyps, file_hyps = [], [], []
    try:
        for row in rows:
            path = shared_speech / str(row["audio"])
            audio, rate = sf.read(path, dtype="float32")
            device = tmp_path / "device.wav"  # what a laptop microphone delivers: 44.1 kHz, two channels
            up = soxr.resample(audio, rate, 44_100)
            sf.write(device, np.stack([up, up], axis=1), 44_100, subtype="PCM_16")
            live = [transcriber.recognize_clip(c).text for c in LiveClips(FileInput(device, speed=10.0))]
            whole = [transcriber.recognize_clip(c).text for c in vad.iter_file_clips(path)]
            refs.append(str(row["text"]))
            live_hyps.append(" ".join(live))
            file_hyps.append(" ".join(whole))
    finally:
        transcriber.close()
    live_wer, file_wer = wer(refs, live_hyps), wer(refs, file_hyps)
    # resampled twice and cut as it streams, the live path must not read worse than the file path
    assert live_wer <= file_wer + 0.02, (live_wer, file_wer)
    assert live_wer < 0.25, (live_wer, live_hyps)
