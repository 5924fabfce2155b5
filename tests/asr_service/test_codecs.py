"""FLAC and Ogg/Opus clips: encoded by the client, decoded by the server with the same limits as LINEAR16."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from asr_service.audio import AudioFormat, ClipLimits, decode_clip
from asr_service.codecs import encode, opus_compression_level
from asr_service.errors import ClipTooLongError, InvalidAudioError
from tests.fakes import tone_bytes

LIMITS = ClipLimits(accepted_rates_hz=(8_000, 16_000, 48_000), max_clip_s=2.0, max_channels=2)
PCM = tone_bytes(1.0, 0.3)  # 1 s of a 16 kHz tone
FLAC = AudioFormat(sample_rate_hz=16_000, encoding="flac")
OPUS = AudioFormat(sample_rate_hz=16_000, encoding="ogg_opus")


def _reference() -> np.ndarray:
    return np.frombuffer(PCM, dtype="<i2").astype(np.float32) / 32768.0


def test_flac_is_lossless_and_measured_like_linear16() -> None:
    data = encode(PCM, sample_rate_hz=16_000, encoding="flac")
    assert len(data) < len(PCM)
    clip = decode_clip(data, FLAC, LIMITS)
    pcm = decode_clip(PCM, AudioFormat(sample_rate_hz=16_000), LIMITS)
    np.testing.assert_array_equal(clip.samples, pcm.samples)
    assert clip.stats == pcm.stats


def test_opus_decodes_close_to_the_source_at_a_fraction_of_the_bytes() -> None:
    data = encode(PCM, sample_rate_hz=16_000, encoding="ogg_opus", opus_bitrate_bps=24_000)
    assert len(data) * 8 < len(PCM)  # 1 s: 32 kB of PCM, about 3 kB of Opus with its headers
    clip = decode_clip(data, OPUS, LIMITS)
    assert clip.samples.size == 16_000
    assert np.corrcoef(clip.samples, _reference())[0, 1] > 0.99
    assert clip.stats.duration_s == pytest.approx(1.0)


def test_stereo_flac_at_48_khz_is_mixed_down_and_resampled() -> None:
    stereo = np.repeat(np.frombuffer(tone_bytes(0.5, 0.3), dtype="<i2")[:, None], 2, axis=1)
    up = np.repeat(stereo, 3, axis=0)  # 48 kHz, 0.5 s
    data = encode(up.tobytes(), sample_rate_hz=48_000, channels=2, encoding="flac")
    clip = decode_clip(data, AudioFormat(sample_rate_hz=48_000, channels=2, encoding="flac"), LIMITS)
    assert clip.samples.size == 8_000 and clip.stats.sample_rate_hz == 48_000


def test_the_opus_bitrate_sets_the_size() -> None:
    small = encode(PCM, sample_rate_hz=16_000, encoding="ogg_opus", opus_bitrate_bps=16_000)
    large = encode(PCM, sample_rate_hz=16_000, encoding="ogg_opus", opus_bitrate_bps=64_000)
    assert 2.5 < len(large) / len(small) < 5
    assert opus_compression_level(256_000) == 0.0 and opus_compression_level(6_000) == 1.0
    with pytest.raises(ValueError, match="opus_bitrate_bps: 1000 is out of range"):
        opus_compression_level(1_000)
    with pytest.raises(ValueError, match="Opus encodes 8000"):
        encode(PCM, sample_rate_hz=44_100, encoding="ogg_opus")
    assert encode(b"", sample_rate_hz=16_000, encoding="ogg_opus") == b""


@pytest.mark.parametrize(
    ("data", "fmt", "error", "message"),
    [
        (encode(PCM, sample_rate_hz=16_000, encoding="flac")[:3000], FLAC, InvalidAudioError,
         "do not decode as FLAC"),
        (np.random.default_rng(0).bytes(4000), OPUS, InvalidAudioError, "4000 bytes that are not a OGG_OPUS file"),
        (PCM, FLAC, InvalidAudioError, "are not a FLAC file"),  # raw PCM declared as FLAC
        (encode(PCM, sample_rate_hz=16_000, encoding="flac"), OPUS, InvalidAudioError,
         "are not a OGG_OPUS file"),
        (encode(PCM, sample_rate_hz=16_000, encoding="ogg_opus"), FLAC, InvalidAudioError,
         "are not a FLAC file"),
        (encode(PCM, sample_rate_hz=16_000, encoding="flac"), AudioFormat(sample_rate_hz=8_000, encoding="flac"),
         InvalidAudioError, "sample_rate_hz: 8000 Hz declared, but the FLAC file is 16000 Hz"),
        (encode(PCM, sample_rate_hz=16_000, encoding="flac"),
         AudioFormat(sample_rate_hz=16_000, channels=2, encoding="flac"), InvalidAudioError,
         "channels: 2 declared, but the FLAC file has 1"),
        (b"", FLAC, InvalidAudioError, "audio: empty (0 bytes); send at least one FLAC frame"),
    ],
)
def test_bad_compressed_audio_is_refused_naming_the_fault(
    data: bytes, fmt: AudioFormat, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode_clip(data, fmt, LIMITS)


def test_a_truncated_flac_is_refused_not_transcribed_in_part() -> None:
    data = encode(tone_bytes(1.5, 0.3), sample_rate_hz=16_000, encoding="flac")
    with pytest.raises(InvalidAudioError, match="FLAC"):
        decode_clip(data[: len(data) * 2 // 3], FLAC, LIMITS)


def test_a_small_file_of_long_silence_is_refused_without_decoding_it_all() -> None:
    # 10 minutes of digital silence: a few kB of FLAC, 19 MB of PCM once decoded
    silence = np.zeros((16_000 * 600, 1), dtype=np.int16)
    out = io.BytesIO()
    soundfile.write(out, silence, 16_000, format="FLAC")
    assert len(out.getvalue()) < 200_000
    with pytest.raises(ClipTooLongError, match=r"clip is over 2\.00 s long; the server accepts at most 2 s"):
        decode_clip(out.getvalue(), FLAC, LIMITS)


def test_an_empty_compressed_clip_on_a_stream_is_empty_audio() -> None:
    clip = decode_clip(b"", OPUS, LIMITS, allow_empty=True)
    assert clip.samples.size == 0 and clip.stats.duration_s == 0.0
