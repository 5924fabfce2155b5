from __future__ import annotations

from asr_service import errors


def test_every_error_is_in_the_docstring_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.AsrError):
            assert name in doc, f"{name} missing from the tree in errors.__doc__"
