"""ASR service: a Whisper server behind gRPC, its client, and the tools around it.

The public surface is small: the config, the client, the server factory, and the errors.
"""

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
