from __future__ import annotations

import grpc
import pytest

from asr_service import errors


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
    assert errors.status_code_for(error("x")) == code


def test_every_error_is_in_the_docstring_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.AsrError):
            assert name in doc, f"{name} missing from the tree in errors.__doc__"
