"""The model router: a request's model_id to the served recognizer, or the reason it cannot be served."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asr_service.config import ServerConfig
from asr_service.errors import ConfigError, UnavailableError, UnknownModelError
from asr_service.recognizer import Recognizer
from asr_service.router import ModelRouter
from tests.fakes import FakeEngine


@pytest.fixture()
def recognizer() -> Iterator[Recognizer]:
    served = Recognizer(FakeEngine(), ServerConfig())
    yield served
    served.close()


def test_nothing_is_served_while_the_model_loads() -> None:
    router = ModelRouter()
    assert router.recognizers() == [] and router.primary is None
    with pytest.raises(UnavailableError, match="still loading"):
        router.resolve("")


def test_a_request_may_name_the_model_by_id_or_version_or_not_at_all(recognizer: Recognizer) -> None:
    router = ModelRouter()
    router.add(recognizer)
    assert router.resolve("") is recognizer
    assert router.resolve("fake") is recognizer
    assert router.resolve("fake-1") is recognizer
    assert router.recognizers() == [recognizer]


def test_an_unknown_model_names_what_is_served(recognizer: Recognizer) -> None:
    router = ModelRouter()
    router.add(recognizer)
    served = r"'whisper-large-v3' is not served here \(served: fake version fake-1\)"
    with pytest.raises(UnknownModelError, match=served):
        router.resolve("whisper-large-v3")


def test_draining_refuses_new_requests_but_keeps_the_recognizers_listed(recognizer: Recognizer) -> None:
    router = ModelRouter()
    router.add(recognizer)
    router.drain()
    with pytest.raises(UnavailableError, match="draining"):
        router.resolve("")
    assert router.recognizers() == [recognizer]  # still closed, and still reported, by the server


def test_a_second_model_is_refused_until_routing_between_models_exists(recognizer: Recognizer) -> None:
    router = ModelRouter()
    router.add(recognizer)
    other = Recognizer(FakeEngine(), ServerConfig())
    try:
        with pytest.raises(ConfigError, match="one model per server"):
            router.add(other)
    finally:
        other.close()
