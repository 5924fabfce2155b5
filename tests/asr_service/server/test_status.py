from __future__ import annotations

import grpc
import pytest

from asr_service import errors
from asr_service.server._status import status_code_for


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidAudioError, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.ProtocolError, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.ClipTooLongError, grpc.StatusCode.OUT_OF_RANGE),
        (errors.UnknownModelError, grpc.StatusCode.NOT_FOUND),
        (errors.OverloadedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.UnavailableError, grpc.StatusCode.UNAVAILABLE),
        (errors.ConfigError, grpc.StatusCode.INTERNAL),
    ],
)
def test_status_code_table(error: type[errors.AsrError], code: grpc.StatusCode) -> None:
    assert status_code_for(error("x")) == code


def test_a_subclass_takes_its_parents_code() -> None:
    class TooLoud(errors.InvalidAudioError):
        pass

    assert status_code_for(TooLoud("x")) == grpc.StatusCode.INVALID_ARGUMENT
