"""The decoding policy: window buckets, token cap, degeneracy rules, long-form seeking."""

from __future__ import annotations

import pytest

from asr_service.engines._decoding import (
    DecodeOptions,
    check_degenerate,
    choose_window_s,
    compression_ratio,
    is_noise_text,
    longest_repeat,
    max_new_tokens,
    split_at_last_segment,
)

OPTIONS = DecodeOptions()
TS = 50363  # <|0.00|> for tiny.en


def _check(tokens: list[int], text: str = "fine words", *, hit_cap: bool = False, nsp: float = 0.01,
           rms_dbfs: float = -20.0) -> tuple[str, ...]:
    return check_degenerate(text_tokens=tokens, text=text, hit_token_cap=hit_cap, no_speech_prob=nsp,
                            clip_rms_dbfs=rms_dbfs, options=OPTIONS).reasons


@pytest.mark.parametrize(
    ("duration_s", "window_s"), [(0.3, 10.0), (2.8, 10.0), (8.0, 10.0), (8.01, 15.0), (13.0, 15.0), (18.5, 30.0)]
)
def test_window_buckets(duration_s: float, window_s: float) -> None:
    assert choose_window_s(duration_s, OPTIONS) == window_s


def test_fast_path_off_means_full_window() -> None:
    assert choose_window_s(2.0, DecodeOptions(use_fast_path=False)) == 30.0


def test_token_cap_scales_with_duration_and_respects_limit() -> None:
    assert max_new_tokens(1.0, OPTIONS, limit=447) == 19
    assert max_new_tokens(8.0, OPTIONS, limit=447) == 68
    assert max_new_tokens(100.0, OPTIONS, limit=200) == 200


def test_longest_repeat() -> None:
    assert longest_repeat([1, 2, 3, 1, 2, 3, 1, 2, 3]) == (3, 3)
    assert longest_repeat([5, 6, 7, 8]) == (0, 0)
    assert longest_repeat([9, 4, 4, 4, 4, 7]) == (1, 4)


def test_sentence_loop_is_degenerate() -> None:
    # "Go forward 10 meters. Go forward 10 meters." as tiny.en writes it in a 3.8 s window
    sentence = [1514, 2651, 838, 10700, 13]
    assert "repetition" in _check(sentence * 2, "Go forward 10 meters. Go forward 10 meters.")


def test_short_loop_is_degenerate_once_long() -> None:
    assert "repetition" in _check([16802, 13] * 8, "Firefox. " * 8)


def test_legitimate_repetitions_are_not_degenerate() -> None:
    # "Word. Word. Word. Word. Word. Word." (12 tokens) and "Montreal, forced, forced, aligner"
    assert _check([1, 2, 3] + [4, 13] * 6, "Montreal for Styliner. Word. Word. Word. Word. Word. Word.") == ()
    assert _check([7, 11, 8, 11, 8, 11, 9]) == ()


def test_token_cap_and_compression_ratio() -> None:
    assert _check([1, 2, 3], hit_cap=True) == ("token_cap",)
    looping_text = "five " * 30
    assert compression_ratio(looping_text) > OPTIONS.compression_ratio_threshold
    assert "compression_ratio" in _check([1, 2], looping_text)
    assert compression_ratio("") == 0.0


def test_empty_output_on_a_loud_clip_is_degenerate_unless_model_says_silence() -> None:
    assert _check([], "", nsp=0.1, rms_dbfs=-20.0) == ("empty_on_speech",)
    assert _check([], "", nsp=0.9, rms_dbfs=-20.0) == ()
    assert _check([], "", nsp=0.1, rms_dbfs=-70.0) == ()


def test_split_keeps_complete_segments_and_seeks_to_last_timestamp() -> None:
    # <|0.00|> a b <|2.00|><|2.00|> c d  -> keep the first segment, seek to 2.0 s
    tokens = [TS, 1, 2, TS + 100, TS + 100, 3, 4]
    kept, seek_s = split_at_last_segment(tokens, timestamp_begin=TS, segment_s=30.0)
    assert kept == [TS, 1, 2, TS + 100]
    assert seek_s == pytest.approx(2.0)


def test_split_single_timestamp_ending_consumes_window() -> None:
    tokens = [TS, 1, 2, TS + 100, TS + 100, 3, TS + 300]
    assert split_at_last_segment(tokens, timestamp_begin=TS, segment_s=30.0) == (tokens, 30.0)


def test_split_never_stalls_on_a_zero_timestamp() -> None:
    tokens = [TS, TS, 1, 2]
    assert split_at_last_segment(tokens, timestamp_begin=TS, segment_s=30.0) == (tokens, 30.0)


@pytest.mark.parametrize(
    ("text", "no_speech_prob", "silence"),
    [("you", 0.9, True), ("You.", 0.9, True), ("You...", 0.8, True), ("you?", 0.95, True),
     ("you", 0.6, False),  # "you" really said: its no-speech probability was 0.26-0.61
     ("You know.", 0.9, False), ("Thank you.", 0.9, False), ("", 0.9, False), ("Um.", 0.9, False)],
)
def test_noise_text(text: str, no_speech_prob: float, silence: bool) -> None:
    assert is_noise_text(text, no_speech_prob, OPTIONS) is silence
    assert not is_noise_text(text, no_speech_prob, DecodeOptions(noise_texts=()))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"window_buckets_s": (10.0, 20.0)}, "window_buckets_s"),
        ({"window_buckets_s": (20.0, 10.0, 30.0)}, "window_buckets_s"),
        ({"min_padding_s": -1.0}, "min_padding_s"),
        ({"beam_size": 0}, "beam_size"),
        ({"noise_text_no_speech_prob": 1.5}, "noise_text_no_speech_prob"),
    ],
)
def test_bad_decode_options(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DecodeOptions(**kwargs)  # type: ignore[arg-type]
