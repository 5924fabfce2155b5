"""The language a client asks for: checked against the model before any audio is sent, and echoed back."""

from __future__ import annotations

import pytest

from asr_service.client import AsrClient, LocalTranscriber
from asr_service.config import ServerConfig
from tests.fakes import FakeEngine


def test_a_language_the_model_does_not_transcribe_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="'de' is not a language fake transcribes"):
        LocalTranscriber(ServerConfig(), engine_factory=lambda options: FakeEngine(options), language="de")


def test_auto_and_english_are_taken_by_an_english_only_model() -> None:
    for language in ("", "en", "auto"):
        transcriber = LocalTranscriber(ServerConfig(), engine_factory=lambda options: FakeEngine(options),
                                       language=language)
        transcriber.close()


def test_the_client_id_and_language_travel_with_every_request() -> None:
    client = AsrClient("127.0.0.1:1", token="secret", client_id="phone-42", language="de")
    try:
        assert client._metadata == (("authorization", "Bearer secret"), ("x-client-id", "phone-42"))
        assert client._config(16_000, 1, "").language == "de"
    finally:
        client.close()
    plain = AsrClient("127.0.0.1:1")
    assert plain._metadata is None
    plain.close()
