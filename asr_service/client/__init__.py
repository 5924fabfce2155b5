"""The client side: transcribers that take client VAD clips and give `ClipResult`s, and the tools built on them.

- `AsrClient` talks to a server over gRPC;
- `LocalTranscriber` runs the server's recognizer in this process;
- both follow `Transcriber`, so the CLI, the demo, the evaluation and the benchmarks treat a remote
  server and an in-process engine alike; both are `SessionTranscriber`s too: `stream(on_revision=...)`
  takes clips as one session and also gives its `Revision`s, which `revised` applies to the results' texts;
- `decode_vad_clip` and `clip_vad_stats` show a clip as the server sees it; `paced` gives a file's clips
  at a multiple of the pace of speech (`SERVER_REVISIONS_PACE` for a server's revisions);
- `replay` sends a manifest's audio through the client VAD to a server (demos, drift tests, load),
  optionally shifted (`apply_gain`, `add_noise`, `pitch_up`, `shift_transform`);
- `LiveClips` runs the client VAD over a live `AudioInput` (`MicrophoneInput` through PortAudio, or
  `FileInput`, a file played at the pace of speech) and yields each clip as its utterance ends;
- `build_baseline` makes the drift baseline a server compares live traffic with, from a dev set
  (`manifest_clips`, `clips_of_pcm` and `features_of_clip` are its steps).

The names below the first four load on first use: gRPC and the generated code only for `AsrClient`
and `replay`, the monitoring and evaluation code only for the baseline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asr_service.client._clips import SERVER_REVISIONS_PACE, clip_vad_stats, decode_vad_clip, paced
from asr_service.client._local import LocalTranscriber
from asr_service.client._result import ClipResult, SessionTranscriber, Transcriber
from asr_service.revisions import Revision, revised

if TYPE_CHECKING:
    from asr_service.client._baseline import build_baseline, clips_of_pcm, features_of_clip, manifest_clips
    from asr_service.client._capture import AudioInput, FileInput, InputDevice, MicrophoneInput, list_input_devices
    from asr_service.client._live import LiveClips
    from asr_service.client._remote import AsrClient
    from asr_service.client._replay import ReplayOptions, ReplaySummary, replay, shift_transform
    from asr_service.client._shifts import add_noise, apply_gain, pitch_up

__all__ = [
    "SERVER_REVISIONS_PACE",
    "AsrClient",
    "AudioInput",
    "ClipResult",
    "FileInput",
    "InputDevice",
    "LiveClips",
    "LocalTranscriber",
    "MicrophoneInput",
    "ReplayOptions",
    "ReplaySummary",
    "Revision",
    "SessionTranscriber",
    "Transcriber",
    "add_noise",
    "apply_gain",
    "build_baseline",
    "clip_vad_stats",
    "clips_of_pcm",
    "decode_vad_clip",
    "features_of_clip",
    "list_input_devices",
    "manifest_clips",
    "paced",
    "pitch_up",
    "replay",
    "revised",
    "shift_transform",
]

_LAZY = {
    "AsrClient": "_remote",
    "ReplayOptions": "_replay",
    "ReplaySummary": "_replay",
    "replay": "_replay",
    "shift_transform": "_replay",
    "add_noise": "_shifts",
    "apply_gain": "_shifts",
    "pitch_up": "_shifts",
    "build_baseline": "_baseline",
    "clips_of_pcm": "_baseline",
    "features_of_clip": "_baseline",
    "manifest_clips": "_baseline",
    "AudioInput": "_capture",
    "FileInput": "_capture",
    "InputDevice": "_capture",
    "MicrophoneInput": "_capture",
    "list_input_devices": "_capture",
    "LiveClips": "_live",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
