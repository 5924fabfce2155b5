"""The client side: transcribers that take client VAD clips and give `ClipResult`s, and the tools built on them.

- `AsrClient` talks to a server over gRPC (the only name here that loads gRPC, on first use);
- `LocalTranscriber` runs the server's recognizer in this process;
- both follow `Transcriber`, so the CLI, the demo, the evaluation and the benchmarks treat a remote
  server and an in-process engine alike;
- `decode_vad_clip` and `clip_vad_stats` show a clip as the server sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asr_service.client._clips import clip_vad_stats, decode_vad_clip
from asr_service.client._local import LocalTranscriber
from asr_service.client._result import ClipResult, Transcriber

if TYPE_CHECKING:
    from asr_service.client._remote import AsrClient

__all__ = [
    "AsrClient",
    "ClipResult",
    "LocalTranscriber",
    "Transcriber",
    "clip_vad_stats",
    "decode_vad_clip",
]


def __getattr__(name: str) -> Any:
    # gRPC and the generated code load only for a client that talks to a server.
    if name == "AsrClient":
        from asr_service.client._remote import AsrClient

        return AsrClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
