"""`asr serve`: run the gRPC server until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio

from asr_service.cli._common import add_server_flags, config_from_args, fail, setup_logging
from asr_service.errors import AsrError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve`."""
    parser = subparsers.add_parser("serve", help="run the ASR gRPC server")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 50051; 0 picks a free one)")
    parser.add_argument("--http-port", type=int, help="monitoring HTTP port: /metrics, dashboard (default: none)")
    parser.add_argument("--baseline", metavar="FILE", help="drift baseline from `asr monitor baseline`")
    parser.add_argument("--request-log", metavar="DIR",
                        help="keep sampled results of requests whose clients consent, in this folder "
                             "(docs/feedback-loop.md; default: nothing is kept)")
    parser.add_argument("--state-file", metavar="FILE",
                        help="keep the deployment state (models, primary, canary, shadow) in FILE and restore it at "
                             "start (docs/deployment.md; default: a restart serves --model alone)")
    add_server_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until a signal; exit 0 after a clean shutdown."""
    from asr_service._malloc import limit_arenas
    from asr_service.server import serve

    limit_arenas(2)  # before the worker and gRPC threads start
    _raise_open_files_limit()
    try:
        config = config_from_args(args, host=args.host, port=args.port, http_port=args.http_port,
                                  **{"monitoring.baseline_path": args.baseline, "request_log.dir": args.request_log,
                                     "deployment.state_file": args.state_file})
        setup_logging(config.log_level)
        asyncio.run(serve(config))
    except AsrError as exc:
        return fail(str(exc))
    return 0


def _raise_open_files_limit() -> None:
    """Every connection is a file descriptor: the soft limit (often 1,024) up to the hard one, so that
    a flood of connections meets the handshake timeout and the proxy's limits, not a full fd table."""
    import contextlib
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # not allowed here: keep the soft limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
