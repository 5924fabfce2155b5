"""The model router: which recognizer answers a request.

Today a server holds one recognizer (the primary) and the router resolves a request's `model_id`
(empty, the model's id or its version) to it, or says why not: still loading, draining, or a model
this server does not serve. This is the seam the coming deployment modes fill in: several models at
once, a shadow that sees a copy of traffic, a canary with a share of it and automatic rollback,
blue/green switching. The servicer asks `resolve`, monitoring reads `recognizers`; neither knows
how the choice is made. No gRPC here: the servicer maps the errors to status codes.
"""

from __future__ import annotations

from asr_service.errors import ConfigError, UnavailableError, UnknownModelError
from asr_service.recognizer import Recognizer

__all__ = ["ModelRouter"]


class ModelRouter:
    """Routes requests to the served recognizers. Used from the server's event loop only."""

    def __init__(self) -> None:
        self._primary: Recognizer | None = None
        self._draining = False

    @property
    def primary(self) -> Recognizer | None:
        """The recognizer that answers requests naming no model, once loaded."""
        return self._primary

    def add(self, recognizer: Recognizer) -> None:
        """Serve `recognizer` (as the primary: the one role there is today)."""
        if self._primary is not None:
            raise ConfigError(
                f"router: already serving {self._primary.info.model_version}; one model per server for now")
        self._primary = recognizer

    def recognizers(self) -> list[Recognizer]:
        """Every recognizer being served (what ListModels and monitoring report)."""
        return [self._primary] if self._primary else []

    def resolve(self, model_id: str) -> Recognizer:
        """The recognizer for a request naming `model_id` ("" for the default).

        UnavailableError while draining or loading (retry elsewhere or shortly); UnknownModelError
        naming what is served when `model_id` is neither the served model's id nor its version.
        """
        if self._draining:
            raise UnavailableError("server: draining for shutdown; retry on another server")
        recognizer = self._primary
        if recognizer is None:
            raise UnavailableError("server: the model is still loading; retry shortly")
        if model_id and model_id not in (recognizer.info.model_id, recognizer.info.model_version):
            raise UnknownModelError(
                f"config.model_id: {model_id!r} is not served here "
                f"(served: {recognizer.info.model_id} version {recognizer.info.model_version})"
            )
        return recognizer

    def drain(self) -> None:
        """Refuse new requests from now on (in-flight ones finish)."""
        self._draining = True
