"""Client-side voice activity detection: cut an audio stream into utterance clips for the ASR server.

Light by design (numpy, webrtcvad, soundfile, soxr; never ``protos`` or ``asr_service``) so that it can
be ported to a phone or a browser. Everything it outputs is 16 kHz mono int16.

Quick use::

    from vad import Segmenter, VadOptions
    seg = Segmenter(VadOptions(max_clip_s=15.0), input_sample_rate_hz=48000, input_channels=2)
    for chunk in microphone:            # bytes (s16le) or numpy arrays, any size
        for clip in seg.push(chunk):
            send(clip.to_bytes(), clip.stats)
    for clip in seg.flush():
        send(clip.to_bytes(), clip.stats)

Segmentation algorithm
======================

Positions are sample indices of the 16 kHz stream (input at other rates or channel counts is first
downmixed by mean and resampled). With ``F = frame_ms * 16`` samples, frame ``k`` is
``[k*F, (k+1)*F)``: frames start at sample 0 and never overlap. Each complete frame gets one decision,
voiced or unvoiced, from the detector (``DETECTORS[options.detector]``). A partial frame at the end of
the stream is never classified; it counts as unvoiced audio that trailing padding may use. Lengths in
ms become samples exactly (x16); ``min_silence_ms`` and ``min_speech_ms`` act in whole frames.

The state machine has three states: IDLE, SPEECH (an utterance is open) and ENDED (the utterance is
over and is waiting for its post padding). Let ``last_voiced_end`` be the end of the latest voiced
frame seen in the stream (0 before any).

1. **Start.** In IDLE (or ENDED), a voiced frame ``k`` opens an utterance: a single voiced frame is
   enough. Its clip starts at ``max(k*F - pre_padding_ms*16, last_voiced_end, 0)``: up to
   ``pre_padding_ms`` of the audio before it, but never reaching back into an earlier voiced frame
   (padding is always unvoiced audio). Clips of neighbouring utterances may therefore overlap in their
   padding. An ENDED utterance is first closed at ``min(its end target, k*F)``.
2. **Speech.** Every voiced frame moves ``last_voiced_end`` to its end. The utterance ENDS at the
   first unvoiced frame whose end is at least ``min_silence_ms`` after ``last_voiced_end``, i.e. after
   ``max(1, ceil(min_silence_ms / frame_ms))`` consecutive unvoiced frames. Shorter pauses stay inside.
3. **End and post padding.** An ended utterance's clip ends at ``end target = last_voiced_end +
   post_padding_ms*16`` (capped so the clip is at most ``max_clip_s``). The clip is emitted as soon as
   the stream reaches that point (immediately when ``post_padding_ms <= min_silence_ms``), or earlier
   at the start of the next voiced frame, or at the end of the stream: post padding is cut short
   there, never filled with speech or invented silence.
4. **Drop.** A clip with fewer than ``ceil(min_speech_ms / frame_ms)`` voiced frames is dropped
   (clicks, coughs, detector noise). Clip indices count emitted clips only.
5. **Split.** No clip is longer than ``max_clip_s``. When the next frame of an open (not ended)
   utterance would end more than ``max_clip_s`` after the clip's start, the clip is cut at the end of
   one frame chosen among the frames of the last ``SPLIT_SEARCH_MS`` (1000 ms) before that limit, not
   before the clip's first voiced frame: an unvoiced frame if there is one, else the frame with least
   energy (sum of squares); ties go to the latest frame. The piece before the cut is emitted; the rest
   continues as a new clip that starts exactly at the cut (no pre padding, no overlap), and may itself
   be split again. Pieces of a split utterance carry ``stats.split = True`` and are never dropped for
   ``min_speech_ms``; only a piece with no voiced frame at all (pure trailing silence) is dropped. The
   union of the pieces covers the whole utterance, so no speech is lost.
6. **Flush.** At the end of the stream an open utterance ends with whatever post padding exists:
   ``min(last_voiced_end + post_padding_ms*16, stream end)``, then rules 4-5 apply.

A clip's ``speech_start_s``/``speech_end_s`` are the start of its first and the end of its last voiced
frame; ``stats.pre_padding_ms``/``post_padding_ms`` are the unvoiced audio actually kept around them.
With ``normalize_dbfs`` set, each emitted clip is scaled so that the RMS of its voiced frames hits the
target, the gain capped by ``max_gain_db`` and by the peak (the output never clips). Decisions depend
only on the audio, never on how it was chunked: the same stream gives the same clips.

Detectors: ``"webrtc"`` (webrtcvad, mode ``aggressiveness``) and ``"energy"`` (frame RMS at or above
``energy_threshold_dbfs``, exact and deterministic); see ``vad.detectors`` to add one.
"""

from vad._clip import Clip, ClipStats
from vad._errors import VadError
from vad._options import SAMPLE_RATE_HZ, VadOptions
from vad._segmenter import Segmenter
from vad._sources import iter_file_clips, iter_pcm_clips, read_audio
from vad.detectors import DETECTORS

__all__ = [
    "DETECTORS",
    "SAMPLE_RATE_HZ",
    "Clip",
    "ClipStats",
    "Segmenter",
    "VadError",
    "VadOptions",
    "iter_file_clips",
    "iter_pcm_clips",
    "read_audio",
]
