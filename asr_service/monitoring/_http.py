"""The monitoring HTTP port: `/metrics`, the dashboard (`/`) and its JSON (`/api/...`).

A stdlib `ThreadingHTTPServer` in its own threads: a scrape or a dashboard poll never waits on the
gRPC event loop, and a slow reader never blocks a request. Bound when built (port 0 picks one),
served once `start()` is called.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from asr_service.auth import TokenFile
from asr_service.errors import ConfigError
from asr_service.monitoring._dashboard import static_file
from asr_service.tls import CertificateFiles, ReloadingSSLContext
from asr_service.webapp import app_file
from asr_service.webapp._silero import SileroAssets

if TYPE_CHECKING:
    from asr_service.monitoring._monitor import Monitor

__all__ = ["MonitoringHttpServer", "RpcGateway"]

logger = logging.getLogger(__name__)

_MAX_SPAN_S = 1800.0
_MAX_POINTS = 600
_SERIES_LOCK = threading.Lock()
_MAX_BODY_BYTES = 64 * 1024


class _Reply(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def body(self) -> bytes: ...


class RpcGateway(Protocol):
    """What the HTTP port needs of the gRPC-Web gateway (`asr_service/server/_grpc_web.py`), which the
    server attaches: this package never imports gRPC."""

    @property
    def max_body_bytes(self) -> int: ...

    def handles(self, path: str) -> bool: ...

    def call(self, path: str, headers: dict[str, str], body: bytes) -> _Reply: ...

    def preflight(self, origin: str | None) -> _Reply: ...


class MonitoringHttpServer:
    """HTTP beside gRPC, over one monitor."""

    def __init__(self, monitor: Monitor, host: str, port: int, *, tls: CertificateFiles | None = None,
                 tokens: TokenFile | None = None, admin_remote: bool = False) -> None:
        self.silero = SileroAssets()
        handler = type("Handler", (_Handler,), {"monitor": monitor, "tokens": tokens, "admin_remote": admin_remote,
                                                "silero": self.silero})
        try:
            self._server = (_TLSServer((host, port), handler, ReloadingSSLContext(tls)) if tls is not None
                            else ThreadingHTTPServer((host, port), handler))
        except OSError as exc:
            raise ConfigError(f"http_port: cannot listen on {host}:{port} ({exc.strerror})") from exc
        self.scheme = "https" if tls is not None else "http"
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    def attach_gateway(self, gateway: RpcGateway | None) -> None:
        """Answer gRPC-Web calls (POST to `/<package>.<Service>/<Method>`) with `gateway` (None: stop)."""
        self._server.RequestHandlerClass.gateway = gateway  # type: ignore[attr-defined]
        if gateway is not None:
            self.silero.warm()  # the browser client's Silero assets, gzipped ahead of the first page

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="asr-http", daemon=True)
        self._thread.start()
        logger.info("monitoring on %s://%s:%d/ (metrics at /metrics)", self.scheme, *self._server.server_address[:2])

    def stop(self) -> None:
        """Stop serving and close the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()


class _TLSServer(ThreadingHTTPServer):
    """HTTPS: each accepted connection wrapped with the current context; the handshake happens in the
    connection's own thread (a slow or plain-text client does not hold the accept loop)."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ReloadingSSLContext) -> None:
        self._context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        return self._context.current().wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a failed handshake (a plain-text client, no client certificate): one line, not a traceback
        logger.info("HTTPS connection from %s refused", client_address[0] if client_address else "?")


class _Handler(BaseHTTPRequestHandler):
    monitor: Monitor
    tokens: TokenFile | None  # None: no tokens asked
    admin_remote: bool  # without tokens, admin calls from other hosts than loopback too
    gateway: RpcGateway | None = None  # gRPC-Web, when the server attached it
    silero: SileroAssets  # the Silero VAD's model and runtime for /app/, when `asr silero install` put them here
    server_version = "asr-monitoring"

    timeout = 10  # a client that stops sending mid-request frees its thread after this long

    def do_GET(self) -> None:
        try:
            self._get()
        except (ConnectionError, TimeoutError):
            return
        except Exception:  # a bug: one log line and a 500, never a dropped connection with a traceback
            logger.exception("GET %s failed", self.path[:200])
            self._json({"error": "internal error"}, status=500)

    def do_POST(self) -> None:
        try:
            self._post()
        except (ConnectionError, TimeoutError):
            return
        except Exception:
            logger.exception("POST %s failed", self.path[:200])
            self._json({"error": "internal error"}, status=500)

    def do_OPTIONS(self) -> None:
        """CORS preflight of a gRPC-Web call from a page of another origin."""
        path = urlsplit(self.path).path
        if self.gateway is None or not self.gateway.handles(path):
            self._json({"error": f"no such page for OPTIONS: {path}"}, status=404)
            return
        self._reply(self.gateway.preflight(self.headers.get("Origin")))

    def _grpc_web(self, gateway: RpcGateway, path: str) -> None:
        """One gRPC-Web call: the gateway forwards it to the gRPC port, whose interceptors check the
        token (the Authorization header travels as metadata), so no HTTP scope is asked here."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > gateway.max_body_bytes:
            self._json({"error": f"send one message with a Content-Length of at most {gateway.max_body_bytes} bytes"},
                       status=411 if length is None else 413)
            return
        body = self.rfile.read(int(length))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._reply(gateway.call(path, headers, body))

    def _reply(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(reply.body)

    def _allowed(self, scope: str) -> bool:
        """Check the token for `scope` (answering 401/403 when it fails). Without tokens, admin calls are
        answered for loopback clients only (unless `[deployment] admin_remote`)."""
        if self.tokens is not None:
            decision = self.tokens.check(self.headers.get("Authorization"), scope)
            if not decision.allowed:
                self._json({"error": decision.reason}, status=401 if decision.client is None else 403)
                return False
            return True
        if scope == "admin" and not self.admin_remote and not _is_loopback(self.client_address[0]):
            self._json({"error": "admin calls are answered on loopback only: configure auth tokens with the admin "
                        "scope, or [deployment] admin_remote = true behind your own network policy"}, status=403)
            return False
        return True

    def _post(self) -> None:
        url = urlsplit(self.path)
        if self.gateway is not None and self.gateway.handles(url.path):
            self._grpc_web(self.gateway, url.path)
            return
        if not url.path.startswith("/api/deploy/"):
            self._json({"error": f"no such page for POST: {url.path}"}, status=404)
            return
        if not self._allowed("admin"):
            return
        admin = self.monitor.admin
        if admin is None:
            self._json({"error": "the server is starting: no deployment yet"}, status=503)
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > _MAX_BODY_BYTES:
            self._json({"error": f"send a JSON body with a Content-Length of at most {_MAX_BODY_BYTES} bytes"},
                       status=411 if length is None else 413)
            return
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._json({"error": "the body is not JSON"}, status=400)
            return
        status, answer = admin.call(url.path[len("/api/deploy/"):], body)
        self._json(answer, status=status)

    def _get(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path.startswith("/api/deploy/report"):  # users' transcripts (consented): the admin scope
            if self._allowed("admin"):
                self._deploy_report(url.path)
            return
        if url.path == "/app" or url.path.startswith("/app/"):  # static files, open: the calls carry the token
            self._app(url.path)
            return
        if url.path != "/healthz" and not self._allowed("metrics"):  # health stays open for probes
            return
        if url.path == "/metrics":
            self._send(200, generate_latest(self.monitor.registry), CONTENT_TYPE_LATEST)
        elif url.path in ("/", "/index.html") or url.path.startswith("/static/"):
            found = static_file("index.html" if not url.path.startswith("/static/") else url.path[len("/static/"):])
            if found is None:
                self._json({"error": f"no such file: {url.path}"}, status=404)
            else:
                self._send(200, *found)
        elif url.path == "/api/alarms":
            self._json(self.monitor.alarms.to_json())
        elif url.path == "/api/drift":
            self._json(self.monitor.drift_json())
        elif url.path == "/api/deploy":
            self._json(self.monitor.deployment_json())
        elif url.path == "/api/timeseries":
            try:
                span_s = float(query.get("span_s", ["300"])[0])
                step_s = float(query.get("step_s", ["5"])[0])
                if not (math.isfinite(span_s) and math.isfinite(step_s) and span_s > 0 and step_s > 0):
                    raise ValueError("not a positive finite number")
            except ValueError:
                self._json({"error": "span_s and step_s are positive numbers of seconds"}, status=400)
                return
            span_s = min(span_s, _MAX_SPAN_S)
            # at most _MAX_POINTS points, and one series computed at a time: four clients polling
            # 1800 one-second points cut gRPC throughput by 78 % (the summaries hold the GIL)
            step_s = max(step_s, 1.0, span_s / _MAX_POINTS)
            with _SERIES_LOCK:
                data = self.monitor.timeseries_json(span_s, step_s)
            self._json(data)
        elif url.path == "/healthz":  # what grpc.health.v1 says, for probes and proxies that speak only HTTP
            serving = self.monitor.serving()
            self._send(200 if serving else 503, b"SERVING\n" if serving else b"NOT_SERVING\n", "text/plain")
        else:
            self._json({"error": f"no such page: {url.path}",
                        "pages": ["/", "/app/", "/metrics", "/api/alarms", "/api/timeseries", "/api/drift",
                                  "/api/deploy", "/api/deploy/report"]}, status=404)

    def _app(self, path: str) -> None:
        """The browser client (`asr_service/webapp`), when gRPC-Web is on."""
        if path == "/app":
            self.send_response(301)
            self.send_header("Location", "/app/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.startswith("/app/silero/") and self.gateway is not None:
            self._silero_asset(path.removeprefix("/app/silero/"))
            return
        found = app_file(path.removeprefix("/app/") or "index.html") if self.gateway is not None else None
        if found is None:
            self._json({"error": f"no such file: {path}" if self.gateway is not None
                        else "the browser client needs gRPC-Web (grpc_web = true)"}, status=404)
            return
        self._send(200, *found)

    def _silero_asset(self, name: str) -> None:
        """The Silero VAD's files (17 MB, installed apart: asr_service/webapp/_silero.py), gzip-compressed for
        browsers that accept it (5.7 MB), with an ETag (their pinned SHA-256) so that a page loaded again
        revalidates them instead of fetching them again."""
        if name == "status.json":
            self._json(self.silero.status())
            return
        gzipped = "gzip" in (self.headers.get("Accept-Encoding") or "")
        etag = self.silero.etag(name, gzipped=gzipped)
        if etag is not None and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            return
        found = self.silero.get(name, gzipped=gzipped) if etag is not None else None
        if etag is None or found is None:
            self._json({"error": f"no such file: /app/silero/{name}", **self.silero.status()}, status=404)
            return
        body, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("ETag", etag)
        self.send_header("Cache-Control", "no-cache")  # keep it, but ask each time (a 304 when unchanged)
        self.end_headers()
        self.wfile.write(body)

    def _deploy_report(self, path: str) -> None:
        admin = self.monitor.admin
        if admin is None:
            self._json({"error": "the server is starting: no deployment yet"}, status=503)
            return
        if path == "/api/deploy/report":
            self._json(admin.report())
            return
        name = path.removeprefix("/api/deploy/report/audio/")
        wav = admin.report_audio(int(name[:-4])) if name.endswith(".wav") and name[:-4].isdigit() else None
        if wav is None:
            self._json({"error": "no such clip in the report (a worse one may have taken its place), or its client "
                        "did not consent to keep its audio"}, status=404)
            return
        self._send(200, wav, "audio/wav")

    def _send_auth_header(self, status: int) -> None:
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="asr"')

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data, allow_nan=False, default=_jsonable).encode("utf-8"), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self._send_auth_header(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http %s " + format, self.address_string(), *args)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return False


def _jsonable(value: object) -> object:
    raise TypeError(f"not JSON: {type(value).__name__}")
