"""The gRPC server: `create_server(config) -> (server, port)`, `serve(config)`, and `BackgroundServer`."""

from asr_service.server._app import SERVICE_NAME, AsrServer, create_server, serve
from asr_service.server._background import BackgroundServer

__all__ = ["SERVICE_NAME", "AsrServer", "BackgroundServer", "create_server", "serve"]
