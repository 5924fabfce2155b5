"""TLS certificate files and the HTTP port's TLS, read again when the files change (no gRPC here).

`ServerConfig.tls_cert_file` / `tls_key_file` turn TLS on; `tls_client_ca_file` makes it mutual (every
client shows a certificate signed by that CA). Both ports read the files again when their modification
time changes, at the next handshake: a renewed certificate (e.g. by cert-manager) is served without a
restart, and connections already open keep theirs. The gRPC side is `asr_service.server._tls`.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass

from asr_service.errors import ConfigError

__all__ = ["CertificateFiles", "ReloadingSSLContext"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CertificateFiles:
    """The files TLS is served from: certificate chain, private key, and the client CA (mutual TLS)."""

    cert: str
    key: str
    client_ca: str | None = None

    def stamp(self) -> tuple[float, ...]:
        """The files' modification times: a change means "read them again"."""
        return tuple(os.stat(p).st_mtime_ns for p in (self.cert, self.key, self.client_ca) if p)

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, key, client CA) as PEM bytes; ConfigError naming a file that cannot be read."""
        out: list[bytes | None] = []
        for name, path in (("tls_cert_file", self.cert), ("tls_key_file", self.key),
                           ("tls_client_ca_file", self.client_ca)):
            if path is None:
                out.append(None)
                continue
            try:
                with open(path, "rb") as handle:
                    out.append(handle.read())
            except OSError as exc:
                raise ConfigError(f"{name}: cannot read {path} ({exc.strerror})") from exc
        cert, key, ca = out
        assert cert is not None and key is not None
        return cert, key, ca


class ReloadingSSLContext:
    """A server-side SSL context for the HTTP port that loads the files again when they change."""

    def __init__(self, files: CertificateFiles) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._stamp = files.stamp()
        self.context = self._build()

    def _build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self._files.cert, self._files.key)
            if self._files.client_ca:
                context.load_verify_locations(self._files.client_ca)
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"tls_cert_file/tls_key_file: cannot use {self._files.cert} with "
                              f"{self._files.key} ({exc})") from exc
        return context

    def current(self) -> ssl.SSLContext:
        """The context for the next connection: rebuilt first when the files changed."""
        try:
            stamp = self._files.stamp()
        except OSError:
            return self.context
        with self._lock:
            if stamp != self._stamp:
                try:
                    self.context = self._build()
                    logger.info("TLS (HTTP): certificate files changed; serving the new ones")
                except ConfigError as exc:
                    logger.warning("TLS (HTTP): %s; keeping the current certificate", exc)
                self._stamp = stamp
            return self.context
