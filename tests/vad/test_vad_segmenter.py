"""Exact clip boundaries on synthetic signals with the deterministic energy detector (30 ms frames).

With the defaults used here: pre/post padding 300 ms = 10 frames, min_silence 400 ms -> 14 unvoiced
frames end an utterance, min_speech 250 ms -> 9 voiced frames needed. F = 480 samples.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.vad.signals import F, bounds, bursts, energy_options, segment, tone
from vad import DETECTORS, Segmenter
from vad._levels import peak_dbfs, rms_dbfs


def test_single_burst_gives_one_exactly_padded_clip() -> None:
    pcm = bursts(200, [(70, 110)])
    clips = segment(pcm, energy_options())
    assert len(clips) == 1
    clip = clips[0]
    assert bounds(clip) == (60 * F, 120 * F, 70 * F, 110 * F)
    assert clip.index == 0
    assert np.array_equal(clip.pcm, pcm[60 * F : 120 * F])
    assert clip.pcm.dtype == np.int16
    assert clip.duration_s == pytest.approx(60 * F / 16000)
    assert clip.to_bytes() == pcm[60 * F : 120 * F].tobytes()
    stats = clip.stats
    assert stats.speech_ratio == pytest.approx(40 / 60)
    assert (stats.pre_padding_ms, stats.post_padding_ms) == (300.0, 300.0)
    assert stats.gain_db == 0.0
    assert stats.split is False
    assert stats.rms_dbfs == pytest.approx(rms_dbfs(pcm[60 * F : 120 * F]))
    assert stats.peak_dbfs == pytest.approx(20 * np.log10(np.abs(pcm).max() / 32768))


def test_clip_is_returned_by_the_push_that_completes_min_silence() -> None:
    pcm = bursts(200, [(70, 110)])
    segmenter = Segmenter(energy_options())
    # Frames 110..123 are the 14 unvoiced frames that end the utterance; frame 123 ends at 124 * F.
    assert segmenter.push(pcm[: 124 * F - 1]) == []
    clips = segmenter.push(pcm[124 * F - 1 : 124 * F])
    assert [bounds(c)[:2] for c in clips] == [(60 * F, 120 * F)]
    assert segmenter.flush() == []


def test_silence_s_says_how_long_a_live_speaker_has_paused() -> None:
    pcm = bursts(300, [(70, 110), (120, 130)])  # speech, a pause of 10 frames, speech, then 170 frames of silence
    segmenter = Segmenter(energy_options())
    segmenter.push(pcm[: 50 * F])
    assert segmenter.silence_s == pytest.approx(50 * F / 16000)  # nothing voiced yet: all of it
    segmenter.push(pcm[50 * F : 100 * F])
    assert segmenter.silence_s == 0.0  # talking
    segmenter.push(pcm[100 * F : 115 * F])
    assert segmenter.silence_s == 0.0  # 5 unvoiced frames: the utterance may go on (min_silence is 14)
    segmenter.push(pcm[115 * F : 200 * F])  # the utterance ended 14 frames after 130
    assert segmenter.silence_s == pytest.approx(70 * F / 16000)  # since the last voiced frame
    segmenter.push(pcm[200 * F :])
    assert segmenter.silence_s == pytest.approx(170 * F / 16000)


def test_pause_shorter_than_min_silence_stays_inside_one_clip() -> None:
    pcm = bursts(150, [(20, 40), (53, 80)])  # 13 unvoiced frames = 390 ms < 400 ms
    clips = segment(pcm, energy_options())
    assert [bounds(c) for c in clips] == [(10 * F, 90 * F, 20 * F, 80 * F)]
    assert clips[0].stats.speech_ratio == pytest.approx(47 / 80)


def test_pause_of_min_silence_splits_into_two_clips_with_full_padding() -> None:
    pcm = bursts(150, [(20, 40), (54, 80)])  # 14 unvoiced frames = 420 ms >= 400 ms
    clips = segment(pcm, energy_options())
    assert [bounds(c) for c in clips] == [(10 * F, 50 * F, 20 * F, 40 * F), (44 * F, 90 * F, 54 * F, 80 * F)]
    assert [c.index for c in clips] == [0, 1]
    assert [c.stats.pre_padding_ms for c in clips] == [300.0, 300.0]  # padding may overlap the last clip


def test_post_padding_longer_than_min_silence_stops_at_next_speech() -> None:
    pcm = bursts(150, [(20, 40), (56, 80)])
    clips = segment(pcm, energy_options(post_padding_ms=600))
    assert [bounds(c)[:2] for c in clips] == [(10 * F, 56 * F), (46 * F, 100 * F)]
    assert [c.stats.post_padding_ms for c in clips] == [480.0, 600.0]


def test_pre_padding_never_reaches_into_earlier_speech() -> None:
    pcm = bursts(150, [(20, 40), (55, 80)])
    clips = segment(pcm, energy_options(pre_padding_ms=600, max_clip_s=30.0))
    assert [bounds(c)[:2] for c in clips] == [(0, 50 * F), (40 * F, 90 * F)]
    assert [c.stats.pre_padding_ms for c in clips] == [600.0, 450.0]


@pytest.mark.parametrize(("voiced_frames", "kept"), [(8, False), (9, True)])
def test_min_speech_drops_short_utterances(voiced_frames: int, kept: bool) -> None:
    pcm = bursts(100, [(50, 50 + voiced_frames)])
    clips = segment(pcm, energy_options())
    assert len(clips) == int(kept)


def test_dropped_utterances_do_not_use_up_clip_indices() -> None:
    pcm = bursts(200, [(20, 25), (60, 80)])  # a 5-frame click, then real speech
    clips = segment(pcm, energy_options())
    assert [(c.index, bounds(c)[2]) for c in clips] == [(0, 60 * F)]


def test_padding_is_truncated_at_stream_start_and_end() -> None:
    pcm = np.concatenate([bursts(40, [(3, 40)]), np.zeros(100, dtype=np.int16)])
    clips = segment(pcm, energy_options())
    assert [bounds(c) for c in clips] == [(0, 40 * F + 100, 3 * F, 40 * F)]
    assert clips[0].stats.pre_padding_ms == 90.0
    assert clips[0].stats.post_padding_ms == 100 / 16


def test_empty_and_silent_streams_give_no_clips() -> None:
    assert segment(np.zeros(0, dtype=np.int16), energy_options()) == []
    assert segment(np.zeros(16000 * 3, dtype=np.int16), energy_options()) == []


def test_max_clip_splits_long_speech_without_dropping_any() -> None:
    # 124 voiced frames from frame 50; 2 s = 32000 samples = 66.7 frames per clip at most.
    pcm = bursts(250, [(50, 174)])
    clips = segment(pcm, energy_options(max_clip_s=2.0))
    # Equal frame energies: each cut is the latest frame that fits; the last piece has 2 voiced
    # frames, fewer than min_speech, and is kept because it belongs to a split utterance.
    assert [bounds(c) for c in clips] == [
        (40 * F, 106 * F, 50 * F, 106 * F),
        (106 * F, 172 * F, 106 * F, 172 * F),
        (172 * F, 184 * F, 172 * F, 174 * F),
    ]
    assert [c.stats.split for c in clips] == [True, True, True]
    assert all(c.pcm.size <= 32000 for c in clips)
    assert np.array_equal(np.concatenate([c.pcm for c in clips]), pcm[40 * F : 184 * F])


def test_split_prefers_an_unvoiced_frame_near_the_limit() -> None:
    pcm = bursts(250, [(50, 90), (91, 174)])  # frame 90 is silent, inside the 1 s search window
    clips = segment(pcm, energy_options(max_clip_s=2.0))
    assert [bounds(c)[:2] for c in clips] == [(40 * F, 91 * F), (91 * F, 157 * F), (157 * F, 184 * F)]
    assert clips[0].stats.post_padding_ms == 30.0


def test_split_prefers_the_quietest_frame_when_all_are_voiced() -> None:
    pcm = bursts(250, [(50, 174)])
    pcm[100 * F : 101 * F] = tone(F, amplitude=2000)  # quieter but still voiced
    clips = segment(pcm, energy_options(max_clip_s=2.0))
    assert [bounds(c)[:2] for c in clips][:1] == [(40 * F, 101 * F)]
    assert bounds(clips[1])[0] == 101 * F


def test_long_speech_with_short_pauses_is_covered_by_clips_within_the_limit() -> None:
    rng = np.random.default_rng(7)
    spans, frame = [], 20
    while frame < 2000:  # 60 s of speech in bursts with pauses below min_silence
        length = int(rng.integers(5, 60))
        spans.append((frame, frame + length))
        frame += length + int(rng.integers(1, 13))
    pcm = bursts(frame + 40, spans)
    clips = segment(pcm, energy_options(max_clip_s=5.0))
    assert len(clips) >= 12
    assert all(c.pcm.size <= 5 * 16000 for c in clips)
    for before, after in itertools.pairwise(clips):
        assert bounds(after)[0] == bounds(before)[1]  # split pieces are contiguous
    covered = np.zeros(pcm.size, dtype=bool)
    for clip in clips:
        start, end = bounds(clip)[:2]
        covered[start:end] = True
        assert np.array_equal(clip.pcm, pcm[start:end])
    for first, stop in spans:
        assert covered[first * F : stop * F].all()


@pytest.mark.parametrize("detector", ["energy", "webrtc"])
def test_clips_do_not_depend_on_chunking(detector: str) -> None:
    rng = np.random.default_rng(3)
    t = np.arange(16000 * 12) / 16000
    voice = (
        np.sin(2 * np.pi * 140 * t) + 0.6 * np.sin(2 * np.pi * 280 * t) + 0.3 * np.sin(2 * np.pi * 420 * t)
    )
    envelope = (np.sin(2 * np.pi * 0.25 * t) > 0.3) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    pcm = np.rint(4000 * envelope * voice + rng.normal(0, 20, t.size)).astype(np.int16)
    options = energy_options(detector=detector, max_clip_s=1.5)
    whole = segment(pcm, options)
    assert len(whole) >= 3

    data = pcm.tobytes()
    by_bytes, pos = Segmenter(options), 0
    clips_bytes = []
    while pos < len(data):
        size = 2 * int(rng.integers(1, 3000))
        clips_bytes += by_bytes.push(data[pos : pos + size])
        pos += size
    clips_bytes += by_bytes.flush()

    by_array, pos = Segmenter(options), 0
    clips_array = []
    while pos < pcm.size:
        size = int(rng.integers(0, 5000))
        clips_array += by_array.push(pcm[pos : pos + size])
        pos += size
    clips_array += by_array.flush()

    assert clips_bytes == whole
    assert clips_array == whole
    assert segment(pcm, options, chunk=3) == whole


def test_float32_input_gives_the_same_clips_as_int16() -> None:
    pcm = bursts(200, [(20, 60), (100, 160)])
    as_float = (pcm.astype(np.float32) / 32768).astype(np.float32)
    segmenter = Segmenter(energy_options())
    clips = segmenter.push(as_float) + segmenter.flush()
    assert clips == segment(pcm, energy_options())


@pytest.mark.parametrize("chunk_samples", [None, 4801])
def test_48k_stereo_gives_the_same_boundaries_within_one_frame(chunk_samples: int | None) -> None:
    import soxr

    pcm = bursts(300, [(30, 80), (120, 200), (230, 260)])
    reference = segment(pcm, energy_options())
    up = soxr.resample(pcm.astype(np.float32) / 32768, 16000, 48000)
    stereo = np.stack([1.2 * up, 0.8 * up], axis=1)  # downmix by mean gives `up` back
    stereo16 = np.rint(np.clip(stereo, -1, 32767 / 32768) * 32768).astype(np.int16)
    segmenter = Segmenter(energy_options(), input_sample_rate_hz=48000, input_channels=2)
    data = stereo16.tobytes()
    step = 4 * (chunk_samples or stereo16.shape[0])
    clips = [c for pos in range(0, len(data), step) for c in segmenter.push(data[pos : pos + step])]
    clips += segmenter.flush()
    assert len(clips) == len(reference) == 3
    for got, want in zip(clips, reference, strict=True):
        assert np.allclose(bounds(got), bounds(want), atol=F)


def test_stereo_bytes_split_inside_a_sample_frame_are_carried_over() -> None:
    pcm = bursts(120, [(20, 60)])
    stereo = np.repeat(pcm[:, None], 2, axis=1).tobytes()
    segmenter = Segmenter(energy_options(), input_channels=2)
    clips = [c for pos in range(0, len(stereo), 6) for c in segmenter.push(stereo[pos : pos + 6])]
    clips += segmenter.flush()
    assert clips == segment(pcm, energy_options())


def test_normalisation_hits_the_target_on_speech_and_never_clips() -> None:
    pcm = bursts(120, [(20, 80)], amplitude=1000)
    clips = segment(pcm, energy_options(normalize_dbfs=-20.0))
    assert len(clips) == 1
    clip = clips[0]
    start, _, speech_start, speech_end = bounds(clip)
    speech = clip.pcm[speech_start - start : speech_end - start]
    assert rms_dbfs(speech) == pytest.approx(-20.0, abs=0.1)
    assert clip.stats.gain_db == pytest.approx(-20.0 - rms_dbfs(pcm[20 * F : 80 * F]), abs=1e-9)
    assert clip.stats.rms_dbfs == pytest.approx(rms_dbfs(clip.pcm))
    assert clip.stats.peak_dbfs == pytest.approx(peak_dbfs(clip.pcm))
    assert bounds(clip) == bounds(segment(pcm, energy_options())[0])


def test_normalisation_gain_is_capped_by_max_gain_db() -> None:
    pcm = bursts(120, [(20, 80)], amplitude=20)  # about -64 dBFS
    options = energy_options(normalize_dbfs=-20.0, max_gain_db=30.0, energy_threshold_dbfs=-80.0)
    clip = segment(pcm, options)[0]
    assert clip.stats.gain_db == 30.0
    assert rms_dbfs(clip.pcm[10 * F : 70 * F]) == pytest.approx(
        rms_dbfs(pcm[20 * F : 80 * F]) + 30.0, abs=0.1
    )


def test_normalisation_is_limited_by_the_peak() -> None:
    pcm = bursts(120, [(20, 80)], amplitude=1000)
    pcm[50 * F] = 30000  # one loud click inside the speech
    clip = segment(pcm, energy_options(normalize_dbfs=-3.0))[0]
    assert clip.stats.gain_db == pytest.approx(20 * np.log10(32767 / 30000))
    assert int(np.abs(clip.pcm.astype(np.int32)).max()) <= 32767
    assert clip.stats.peak_dbfs <= 0.0


def test_clip_pcm_is_read_only() -> None:
    clip = segment(bursts(100, [(20, 60)]), energy_options())[0]
    with pytest.raises(ValueError, match="read-only"):
        clip.pcm[0] = 1


@pytest.mark.parametrize(("gap_frames", "n_clips"), [(19, 1), (20, 2)])
def test_min_silence_on_an_exact_frame_multiple(gap_frames: int, n_clips: int) -> None:
    f20 = 320  # 20 ms frames: 400 ms of silence is exactly 20 frames
    pcm = np.zeros(200 * f20, dtype=np.int16)
    pcm[20 * f20 : 50 * f20] = tone(30 * f20)
    pcm[(50 + gap_frames) * f20 : (80 + gap_frames) * f20] = tone(30 * f20)
    clips = segment(pcm, energy_options(frame_ms=20))
    assert len(clips) == n_clips
    assert bounds(clips[0])[0] == 5 * f20


class _MarkerDetector:
    """Voiced when a frame's first sample is non-zero, whatever its energy (a scripted detector)."""

    def classify(self, frames: NDArray[np.int16]) -> NDArray[np.bool_]:
        return np.asarray(frames[:, 0] != 0)


def test_split_prefers_an_unvoiced_frame_over_a_quieter_voiced_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DETECTORS, "marker", lambda options: _MarkerDetector())
    pcm = np.zeros(250 * F, dtype=np.int16)
    pcm[50 * F : 174 * F] = 1000
    pcm[95 * F : 96 * F] = 100  # voiced, the least energy
    pcm[100 * F : 101 * F] = 5000  # the loudest frame ...
    pcm[100 * F] = 0  # ... but unvoiced for this detector
    clips = segment(pcm, energy_options(detector="marker", max_clip_s=2.0))
    assert bounds(clips[0])[:2] == (40 * F, 101 * F)
    pcm[100 * F] = 5000  # now voiced: the quietest voiced frame wins
    clips = segment(pcm, energy_options(detector="marker", max_clip_s=2.0))
    assert bounds(clips[0])[:2] == (40 * F, 96 * F)


@pytest.mark.parametrize("chunk", [None, F, 7 * F + 13])
def test_pre_padding_may_reach_behind_a_split_utterance_that_ends_without_speech(chunk: int | None) -> None:
    # Speech over frames [50, 100), silence, speech over [114, 150). max_clip_s = 2 s cuts the first
    # utterance at frame 106 (the latest unvoiced frame before the limit), past its last voiced frame;
    # the rest of it ends without speech, and the next clip's 300 ms of pre-padding starts at frame 104,
    # behind that cut. Pushed in pieces, the segmenter used to have dropped those samples already
    # (IndexError: "samples ... not held"), as on a real LJ Speech file with max_clip_s = 2.
    pcm = bursts(200, [(50, 100), (114, 150)])
    clips = segment(pcm, energy_options(max_clip_s=2.0), chunk)
    assert [bounds(c) for c in clips] == [(40 * F, 106 * F, 50 * F, 100 * F), (104 * F, 160 * F, 114 * F, 150 * F)]
    assert [c.stats.split for c in clips] == [True, False]
    assert np.array_equal(clips[1].pcm, pcm[104 * F : 160 * F])
