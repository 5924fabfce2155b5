"""The gRPC server: `create_server(config) -> (server, port)` and `serve(config)`."""

from asr_service.server._app import SERVICE_NAME, AsrServer, create_server, serve

__all__ = ["SERVICE_NAME", "AsrServer", "create_server", "serve"]
