"""The segmenter: a push-driven state machine from frame decisions to utterance clips.

The algorithm is documented in the package docstring (``vad/__init__.py``); the names here follow it.
Positions are absolute sample indices at 16 kHz from the start of the stream; frame ``k`` covers
``[k * F, (k + 1) * F)`` with ``F = frame_ms * 16``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vad._clip import Clip, ClipStats
from vad._convert import PcmConverter
from vad._errors import VadError
from vad._framing import SampleBuffer
from vad._levels import normalize, peak_dbfs, rms_dbfs
from vad._options import SAMPLE_RATE_HZ, VadOptions
from vad.detectors import DETECTORS

__all__ = ["SPLIT_SEARCH_MS", "Segmenter"]

logger = logging.getLogger(__name__)

SPLIT_SEARCH_MS = 1000
"""A max_clip_s split is cut at the quietest frame within this much audio before the limit."""

_SAMPLES_PER_MS = SAMPLE_RATE_HZ // 1000
_FLAG_TRIM_FRAMES = 4096  # drop dead frame decisions in blocks, not one by one


@dataclass(slots=True)
class _Utterance:
    """The open utterance: where its clip starts and how far it has got."""

    clip_start: int
    first_voiced: int | None  # start of the first voiced frame in this clip (None: none yet)
    split_head: bool  # the clip starts at a max_clip_s cut
    ended: bool = False  # min_silence reached; waiting for post padding
    end_target: int = 0  # clip end once ended


class Segmenter:
    """Cuts a live audio stream into utterance clips; feed it with ``push`` and end it with ``flush``.

    ``push`` takes chunks of any size: ``bytes`` of s16le PCM (channels interleaved), or a numpy array
    of int16 or float32 in [-1, 1] with shape ``(n,)`` or ``(n, channels)``. Input that is not 16 kHz
    mono is downmixed by mean and resampled with ``soxr.ResampleStream``. Each call returns the clips
    that the new audio completed, in stream order; ``flush`` returns the last one. The same audio gives
    the same clips however it is chunked. A finished segmenter refuses more audio; build a new one per
    stream. Not thread-safe.
    """

    def __init__(
        self,
        options: VadOptions | None = None,
        *,
        input_sample_rate_hz: int = SAMPLE_RATE_HZ,
        input_channels: int = 1,
    ) -> None:
        self.options = options if options is not None else VadOptions()
        opts = self.options
        self._converter = PcmConverter(input_sample_rate_hz, input_channels)
        self._detector = DETECTORS[opts.detector](opts)
        self._frame = opts.frame_samples
        self._pre = opts.pre_padding_ms * _SAMPLES_PER_MS
        self._post = opts.post_padding_ms * _SAMPLES_PER_MS
        self._min_silence = opts.min_silence_ms * _SAMPLES_PER_MS
        self._min_speech_frames = math.ceil(opts.min_speech_ms / opts.frame_ms)
        self._max_clip = round(opts.max_clip_s * SAMPLE_RATE_HZ)
        self._split_search = SPLIT_SEARCH_MS * _SAMPLES_PER_MS
        self._buffer = SampleBuffer()
        self._flags = bytearray()  # voiced (1) / unvoiced (0) per classified frame from _flags_start
        self._flags_start = 0
        self._frames_done = 0
        self._last_voiced_end = 0  # end of the latest voiced frame in the stream (0: none yet)
        self._utt: _Utterance | None = None
        self._next_index = 0
        self._finished = False

    @property
    def input_sample_rate_hz(self) -> int:
        """Sample rate of the pushed audio."""
        return self._converter.sample_rate_hz

    @property
    def input_channels(self) -> int:
        """Channel count of the pushed audio."""
        return self._converter.channels

    @property
    def position_s(self) -> float:
        """Seconds of 16 kHz audio received so far (after resampling)."""
        return self._buffer.end / SAMPLE_RATE_HZ

    @property
    def silence_s(self) -> float:
        """Seconds of audio since the last voiced frame (all of it before the first), and 0 while an
        utterance's speech may go on (until `min_silence_ms` ends it): how long a live speaker has paused.
        A plain read: safe from another thread than the one that pushes."""
        utt = self._utt
        if utt is not None and not utt.ended:
            return 0.0
        return max(0, self._frames_done * self._frame - self._last_voiced_end) / SAMPLE_RATE_HZ

    def push(self, chunk: bytes | bytearray | memoryview | NDArray[Any]) -> list[Clip]:
        """Add audio; return the clips it completed (often none)."""
        if self._finished:
            raise VadError("push() after flush(): this stream has ended; create a new Segmenter")
        self._buffer.append(self._converter.convert(chunk))
        clips: list[Clip] = []
        self._run_frames(clips)
        self._discard_dead()
        return clips

    def flush(self) -> list[Clip]:
        """End the stream: return the clip still open, if any (with what trailing padding exists)."""
        if self._finished:
            return []
        self._finished = True
        self._buffer.append(self._converter.flush())
        clips: list[Clip] = []
        self._run_frames(clips)
        utt = self._utt
        if utt is not None:
            stream_end = self._buffer.end
            if utt.ended:
                end = min(utt.end_target, stream_end)
            else:
                end = min(self._last_voiced_end + self._post, stream_end, utt.clip_start + self._max_clip)
            self._close(utt, max(end, utt.clip_start), clips)
        return clips

    # -- the state machine ------------------------------------------------------------------------

    def _run_frames(self, out: list[Clip]) -> None:
        """Classify every complete frame now in the buffer and step the state machine through them."""
        frame = self._frame
        first = self._frames_done
        n_frames = (self._buffer.end - first * frame) // frame
        if n_frames <= 0:
            return
        voiced = self._detector.classify(self._buffer.frames(first * frame, n_frames, frame))
        self._flags += voiced.astype(np.uint8).tobytes()
        step = self._step
        for offset, is_voiced in enumerate(voiced.tolist()):
            if is_voiced or self._utt is not None:  # idle + unvoiced: nothing to do
                step(first + offset, is_voiced, out)
        self._frames_done = first + n_frames

    def _step(self, k: int, is_voiced: bool, out: list[Clip]) -> None:
        start = k * self._frame
        end = start + self._frame
        utt = self._utt
        if utt is not None and not utt.ended and end - utt.clip_start > self._max_clip:
            utt = self._split(k, utt, out)
        if is_voiced:
            if utt is not None and utt.ended:
                self._close(utt, min(utt.end_target, start), out)
                utt = None
            if utt is None:
                clip_start = max(start - self._pre, self._last_voiced_end)
                utt = self._utt = _Utterance(clip_start=clip_start, first_voiced=start, split_head=False)
            elif utt.first_voiced is None:
                utt.first_voiced = start
            self._last_voiced_end = end
            return
        if utt is None:
            return
        if not utt.ended and end - self._last_voiced_end >= self._min_silence:
            utt.ended = True
            target = min(self._last_voiced_end + self._post, utt.clip_start + self._max_clip)
            utt.end_target = max(target, utt.clip_start)
        if utt.ended and end >= utt.end_target:
            self._close(utt, utt.end_target, out)

    def _split(self, k: int, utt: _Utterance, out: list[Clip]) -> _Utterance:
        """Frame ``k`` would take the clip past max_clip_s: cut it and open the continuation."""
        frame = self._frame
        limit = k * frame  # frames before k all fit
        if utt.first_voiced is None:
            cut = limit
        else:
            lo = max(utt.first_voiced // frame, -(-(limit - self._split_search) // frame))
            cut = (lo + self._quietest_frame(lo, k) + 1) * frame
        self._emit(utt.clip_start, cut, split_head=utt.split_head, split_tail=True, out=out)
        flags = self._flag_slice(cut // frame, k)
        voiced_at = np.flatnonzero(flags)
        first_voiced = (cut // frame + int(voiced_at[0])) * frame if voiced_at.size else None
        self._utt = _Utterance(clip_start=cut, first_voiced=first_voiced, split_head=True)
        return self._utt

    def _quietest_frame(self, lo: int, hi: int) -> int:
        """Offset from ``lo`` of the split frame in ``[lo, hi)``: unvoiced first, then least energy,
        then the latest (closest to the limit)."""
        frame = self._frame
        samples = self._buffer.frames(lo * frame, hi - lo, frame).astype(np.float64)
        energy = np.einsum("ij,ij->i", samples, samples)
        unvoiced = self._flag_slice(lo, hi) == 0
        if unvoiced.any():
            energy[~unvoiced] = np.inf
        return int(np.flatnonzero(energy == energy.min())[-1])

    def _close(self, utt: _Utterance, end: int, out: list[Clip]) -> None:
        self._utt = None
        self._emit(utt.clip_start, end, split_head=utt.split_head, split_tail=False, out=out)

    # -- clips ------------------------------------------------------------------------------------

    def _flag_slice(self, lo: int, hi: int) -> NDArray[np.uint8]:
        """Frame decisions for frames ``[lo, hi)`` as a fresh uint8 array."""
        base = self._flags_start
        return np.frombuffer(bytes(self._flags[lo - base : hi - base]), dtype=np.uint8)

    def _emit(self, start: int, end: int, *, split_head: bool, split_tail: bool, out: list[Clip]) -> None:
        """Build the clip ``[start, end)`` and append it to ``out`` unless the drop rules say no."""
        frame = self._frame
        lo = -(-start // frame)  # voiced frames always lie wholly inside the clip
        voiced_at = np.flatnonzero(self._flag_slice(lo, end // frame)) + lo
        split = split_head or split_tail
        n_voiced = int(voiced_at.size)
        if n_voiced == 0 or (not split and n_voiced < self._min_speech_frames):
            logger.debug("dropped %.3f-%.3f s: %d voiced frames", start / 16e3, end / 16e3, n_voiced)
            return
        pcm = self._buffer.view(start, end).copy()
        gain_db = 0.0
        target = self.options.normalize_dbfs
        if target is not None:
            rows = voiced_at[:, None] * frame - start + np.arange(frame)
            pcm, gain_db = normalize(pcm, rms_dbfs(pcm[rows.ravel()]), target, self.options.max_gain_db)
        pcm.setflags(write=False)
        speech_start = int(voiced_at[0]) * frame
        speech_end = (int(voiced_at[-1]) + 1) * frame
        stats = ClipStats(
            speech_ratio=n_voiced * frame / (end - start),
            pre_padding_ms=(speech_start - start) / _SAMPLES_PER_MS,
            post_padding_ms=(end - speech_end) / _SAMPLES_PER_MS,
            gain_db=gain_db,
            split=split,
            rms_dbfs=rms_dbfs(pcm),
            peak_dbfs=peak_dbfs(pcm),
        )
        clip = Clip(
            index=self._next_index,
            pcm=pcm,
            start_s=start / SAMPLE_RATE_HZ,
            end_s=end / SAMPLE_RATE_HZ,
            speech_start_s=speech_start / SAMPLE_RATE_HZ,
            speech_end_s=speech_end / SAMPLE_RATE_HZ,
            stats=stats,
        )
        self._next_index += 1
        logger.debug("clip %d: %.3f-%.3f s, split=%s", clip.index, clip.start_s, clip.end_s, split)
        out.append(clip)

    def _discard_dead(self) -> None:
        """Forget audio and decisions that no current or future clip can reach."""
        position = self._frames_done * self._frame
        # The next voiced frame may open a clip pre_padding before it, and that can reach behind an open
        # utterance's start: after a max_clip_s cut past the last voiced frame, the rest of the
        # utterance ends with no speech, and the next clip's pre-padding may cross the cut.
        keep = max(0, position - self._pre)
        if self._utt is not None:
            keep = min(keep, self._utt.clip_start)
        self._buffer.discard_before(keep)
        dead_frames = keep // self._frame - self._flags_start
        if dead_frames >= _FLAG_TRIM_FRAMES:
            del self._flags[:dead_frames]
            self._flags_start += dead_frames
