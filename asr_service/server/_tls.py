"""TLS on the gRPC port: `grpc.dynamic_ssl_server_credentials`, whose fetcher gRPC calls before each
handshake, serving the certificate files' current contents (`asr_service.tls`)."""

from __future__ import annotations

import logging
import threading

import grpc

from asr_service.errors import ConfigError
from asr_service.tls import CertificateFiles

__all__ = ["grpc_server_credentials"]

logger = logging.getLogger(__name__)


def grpc_server_credentials(files: CertificateFiles) -> grpc.ServerCredentials:
    """Server credentials that serve the files' current contents, read again when they change."""
    lock = threading.Lock()
    seen = [files.stamp()]

    def configuration() -> grpc.ServerCertificateConfiguration:
        cert, key, ca = files.read()
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        # called by gRPC before each handshake, on its own threads; None keeps the current one
        try:
            stamp = files.stamp()
            with lock:
                if stamp == seen[0]:
                    return None
                seen[0] = stamp
            logger.info("TLS: certificate files changed; serving the new ones to new connections")
            return configuration()
        except (OSError, ConfigError) as exc:  # mid-rotation (a file briefly missing): keep the old one
            logger.warning("TLS: cannot read the certificate files (%s); keeping the current ones", exc)
            return None

    return grpc.dynamic_ssl_server_credentials(
        configuration(), fetch,  # type: ignore[arg-type]  # gRPC documents None as "no change"; its stub does not
        require_client_authentication=files.client_ca is not None)
