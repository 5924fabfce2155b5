"""One object that owns the Label Studio client and its credentials, and translates its errors.

Credentials come from the environment (``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``,
``LABEL_STUDIO_DOCUMENT_ROOT``) or a TOML file (``url``, ``api_key``, ``document_root``, ``timeout_s``);
the environment wins. The API key is never logged, printed or put in an error message.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from labeling._errors import (
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioNotFound,
    LabelStudioUnavailable,
)

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

__all__ = ["DEFAULT_CONFIG_PATH", "LabelStudioConfig", "LabelStudioSession"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_CONFIG_PATH = Path("~/.config/asr/labelstudio.toml")
_CONFIG_KEYS = ("url", "api_key", "document_root", "timeout_s")


@dataclass(frozen=True, kw_only=True)
class LabelStudioConfig:
    """Where Label Studio is and how to authenticate; ``api_key`` never appears in ``repr``."""

    url: str
    api_key: str = field(repr=False)
    document_root: Path = Path("/")
    timeout_s: float = 30.0

    @classmethod
    def load(
        cls, config_file: str | Path | None = None, env: Mapping[str, str] | None = None
    ) -> LabelStudioConfig:
        """Build from ``config_file`` (or ``ASR_LABELSTUDIO_CONFIG``, or the default path if it exists)
        overridden by the environment."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_file or env.get("ASR_LABELSTUDIO_CONFIG")
        if path is None and DEFAULT_CONFIG_PATH.expanduser().exists():
            path = DEFAULT_CONFIG_PATH.expanduser()
        if path is not None:
            values.update(_read_config_file(Path(path)))
        for key, var in (("url", "LABEL_STUDIO_URL"), ("api_key", "LABEL_STUDIO_API_KEY"),
                         ("document_root", "LABEL_STUDIO_DOCUMENT_ROOT")):
            if env.get(var):
                values[key] = env[var]
        if not values.get("url"):
            raise LabelStudioError("no Label Studio URL: set LABEL_STUDIO_URL or `url` in the config file")
        if not values.get("api_key"):
            raise LabelStudioAuthError(
                "no Label Studio API key: set LABEL_STUDIO_API_KEY or `api_key` in the config file"
            )
        try:
            timeout_s = float(values.get("timeout_s", 30.0))
        except (TypeError, ValueError) as exc:
            raise LabelStudioError(f"timeout_s must be a number, got {values['timeout_s']!r}") from exc
        return cls(
            url=str(values["url"]).rstrip("/"), api_key=str(values["api_key"]),
            document_root=Path(str(values.get("document_root", "/"))), timeout_s=timeout_s,
        )


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabelStudioError(f"cannot read Label Studio config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LabelStudioError(f"Label Studio config {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(_CONFIG_KEYS))
    if unknown:
        raise LabelStudioError(f"Label Studio config {path}: unknown key {unknown[0]!r} "
                               f"(allowed: {', '.join(_CONFIG_KEYS)})")
    return data


class LabelStudioSession:
    """A checked connection to Label Studio: every SDK call goes through :meth:`call`."""

    def __init__(self, config: LabelStudioConfig, client: LabelStudio | None = None) -> None:
        self.config = config
        # Imported here: the SDK takes a second or more to import, and linting needs none of it.
        from label_studio_sdk import LabelStudio

        # The session owns the HTTP client, so `close()` releases its connections.
        self._http = httpx.Client(timeout=config.timeout_s, follow_redirects=True)
        # The SDK retries refused connections twice with back-off; one try gives one quick, clear error.
        self.client = client or LabelStudio(  # type: ignore[no-untyped-call]
            base_url=config.url, api_key=config.api_key, httpx_client=self._http, max_retries=0
        )
        self._user_id: int | None = None

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()

    def __enter__(self) -> LabelStudioSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @classmethod
    def connect(cls, config: LabelStudioConfig) -> LabelStudioSession:
        """Open a session and check that the server answers and accepts the key."""
        session = cls(config)
        try:
            session.user_id()
        except BaseException:
            session.close()
            raise
        return session

    def user_id(self) -> int:
        """Id of the user the API key belongs to (checks server and key on first use)."""
        if self._user_id is None:
            me = self.call("check the API key", self.client.users.whoami)
            self._user_id = int(me.id)
        return self._user_id

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call; any failure becomes one :class:`LabelStudioError` that says ``what`` failed."""
        from label_studio_sdk.core.api_error import ApiError

        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            raise _translate_api_error(what, exc, self.config.url) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise LabelStudioUnavailable(
                f"cannot {what}: Label Studio at {self.config.url} does not answer (is it running? "
                "`scripts/labelstudio start`)"
            ) from exc
        except httpx.TimeoutException as exc:
            raise LabelStudioUnavailable(
                f"cannot {what}: Label Studio at {self.config.url} did not answer within "
                f"{self.config.timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise LabelStudioUnavailable(
                f"cannot {what}: HTTP error talking to {self.config.url}: {type(exc).__name__}"
            ) from exc

    def check_project(self, project_id: int) -> Any:
        """The project, or :class:`LabelStudioNotFound` naming it."""
        return self.call(f"find project {project_id}", self.client.projects.get, project_id)


def _translate_api_error(what: str, exc: ApiError, url: str) -> LabelStudioError:
    # Never use str(exc): it carries the response headers (session cookies).
    status = exc.status_code
    detail = _detail(exc.body)
    if status in (401, 403):
        return LabelStudioAuthError(
            f"cannot {what}: Label Studio at {url} rejected the API key (HTTP {status})"
            + (f": {detail}" if detail else "")
        )
    if status == 404:
        return LabelStudioNotFound(f"cannot {what}: not found in Label Studio at {url} (HTTP 404)")
    if status is None:
        return LabelStudioError(f"cannot {what}: {detail or 'the Label Studio client refused the call'}")
    return LabelStudioError(f"cannot {what}: Label Studio answered HTTP {status}" + (f": {detail}" if detail else ""))


def _detail(body: object) -> str:
    if isinstance(body, dict):
        parts = []
        if body.get("detail"):
            parts.append(str(body["detail"]))
        if body.get("validation_errors"):
            parts.append(str(body["validation_errors"]))
        return "; ".join(parts)[:500]
    if isinstance(body, str):
        return body[:300] if not body.lstrip().startswith("<") else ""
    return ""
