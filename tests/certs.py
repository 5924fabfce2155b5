"""Certificates for TLS tests, made with Debian's `openssl` (a CA, and leaf certificates it signs)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Authority", "Leaf", "authority"]


@dataclass(frozen=True)
class Leaf:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    """A CA that signs leaf certificates for 127.0.0.1 and localhost (servers) or for a client name."""

    folder: Path
    name: str
    cert: Path
    key: Path

    def issue(self, name: str, *, client: bool = False) -> Leaf:
        key, csr, cert = (self.folder / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        extensions = self.folder / f"{name}.ext"
        extensions.write_text("extendedKeyUsage = clientAuth\n" if client else
                              "subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n")
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                 "-days", "2", "-sha256", "-extfile", extensions, "-out", cert)
        return Leaf(cert=cert, key=key)


def authority(folder: Path, name: str = "test-ca") -> Authority:
    """A new self-signed CA in `folder`; skips when openssl is missing."""
    if shutil.which("openssl") is None:
        pytest.skip("needs Debian's openssl to make test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    _openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
             "-subj", f"/CN={name}")
    return Authority(folder=folder, name=name, cert=cert, key=key)


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
