"""Bearer tokens with scopes, from a file of hashed tokens (no gRPC here; the server's interceptor and the
HTTP port both ask `TokenFile.check`).

The file (`ServerConfig.auth_tokens_file`, TOML) names each client, the SHA-256 of its token and its
scopes; the tokens themselves are never stored (`asr auth add-token` prints a new one once)::

    [[token]]
    client = "phone-app"
    sha256 = "9f86d0..."
    scopes = ["recognize"]

Scopes: `recognize` (Recognize, StreamingRecognize, ListModels), `metrics` (/metrics, the dashboard,
/api/*), `admin` (state-changing operations), `feedback`. Health stays open for probes. A presented
token is hashed and compared with every entry in constant time (`hmac.compare_digest`, all entries,
always), so the time taken says nothing about which entry came close. The file is read again when it
changes: a revoked token stops working at the next request.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from asr_service.errors import ConfigError

__all__ = ["SCOPES", "AuthDecision", "TokenFile", "hash_token", "new_token"]

SCOPES = ("recognize", "metrics", "admin", "feedback")
_CLIENT_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")  # label-safe: a metrics label, bounded


def hash_token(token: str) -> str:
    """The SHA-256 of a token, as stored in the file (tokens are random: no salt or slow hash needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A new random token (256 bits)."""
    return "asr_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, kw_only=True)
class _Entry:
    client: str
    digest: bytes
    scopes: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class AuthDecision:
    """The answer to one presented token: `client` when it is known, and whether `scope` is granted."""

    client: str | None  # None: no token, or an unknown one
    allowed: bool
    reason: str  # for the error message: says what is wrong, never the token


class TokenFile:
    """The token file, read again when its modification time changes. Thread-safe."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = -1
        self._entries: tuple[_Entry, ...] = ()
        self._load()

    def _load(self) -> None:
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except OSError as exc:
            raise ConfigError(f"auth_tokens_file: cannot read {self.path} ({exc.strerror})") from exc
        if stamp == self._stamp:
            return
        self._entries = _parse(Path(self.path))
        self._stamp = stamp

    @property
    def clients(self) -> tuple[str, ...]:
        """The client names in the file."""
        return tuple(e.client for e in self._entries)

    def check(self, authorization: str | None, scope: str) -> AuthDecision:
        """Check an `Authorization` value ("Bearer <token>") for `scope`."""
        with self._lock, contextlib.suppress(ConfigError):  # mid-rewrite: keep the tokens read last
            self._load()
        entries = self._entries
        if not authorization:
            return AuthDecision(client=None, allowed=False, reason="no token: send 'authorization: Bearer <token>'")
        kind, _, token = authorization.strip().partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return AuthDecision(client=None, allowed=False, reason="authorization: expected 'Bearer <token>'")
        presented = hashlib.sha256(token.strip().encode("utf-8")).digest()
        found: _Entry | None = None
        for entry in entries:  # every entry, always: the time does not depend on where the match is
            if hmac.compare_digest(presented, entry.digest):
                found = entry
        if found is None:
            return AuthDecision(client=None, allowed=False, reason="unknown token")
        if scope not in found.scopes:
            return AuthDecision(client=found.client, allowed=False,
                                reason=f"client {found.client} lacks the {scope!r} scope")
        return AuthDecision(client=found.client, allowed=True, reason="")


def _parse(path: Path) -> tuple[_Entry, ...]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"auth_tokens_file: cannot read {path} ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"auth_tokens_file: {path} is not valid TOML ({exc})") from exc
    unknown = set(data) - {"token"}
    if unknown:
        raise ConfigError(f"auth_tokens_file: {path}: unknown key(s) {sorted(unknown)} (expected [[token]] tables)")
    entries: list[_Entry] = []
    for i, item in enumerate(data.get("token", [])):
        where = f"auth_tokens_file: {path}: token {i + 1}"
        if not isinstance(item, dict) or set(item) - {"client", "sha256", "scopes"}:
            raise ConfigError(f"{where}: expected client, sha256 and scopes")
        client, digest, scopes = item.get("client"), item.get("sha256"), item.get("scopes")
        if not isinstance(client, str) or not _CLIENT_NAME.fullmatch(client):
            raise ConfigError(f"{where}: client must be 1-63 characters of a-z, 0-9, '_', '.', '-'")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ConfigError(f"{where}: sha256 must be 64 hex digits (asr auth add-token writes it)")
        if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
            raise ConfigError(f"{where}: scopes must be a non-empty list of {', '.join(SCOPES)}")
        entries.append(_Entry(client=client, digest=bytes.fromhex(digest), scopes=frozenset(scopes)))
    return tuple(entries)
