"""ASR service: a Whisper server behind gRPC, its client, and the tools around it.

The public surface is small: the config, the clients, and the errors. Names load on first use, so
that `import asr_service.engines` (or the evaluation, or the recognizer) does not load gRPC: only
the server and `AsrClient` need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asr_service._lazy import lazy_getattr

if TYPE_CHECKING:
    from asr_service.client import AsrClient, ClipResult, LocalTranscriber
    from asr_service.config import ServerConfig, load_config
    from asr_service.errors import AsrError, ClientError, ConfigError

__all__ = [
    "AsrClient",
    "AsrError",
    "ClientError",
    "ClipResult",
    "ConfigError",
    "LocalTranscriber",
    "ServerConfig",
    "__version__",
    "load_config",
]

__version__ = "0.1.0"

_HOMES = {
    "AsrClient": "asr_service.client",
    "ClipResult": "asr_service.client",
    "LocalTranscriber": "asr_service.client",
    "ServerConfig": "asr_service.config",
    "load_config": "asr_service.config",
    "AsrError": "asr_service.errors",
    "ClientError": "asr_service.errors",
    "ConfigError": "asr_service.errors",
}


__getattr__ = lazy_getattr(__name__, _HOMES)
