"""Errors raised by the labeling package.

::

    LabelingError                 base of everything raised here
    ├── SpecError                 a convention spec that cannot be used (names the key or rule)
    ├── InputError                bad input data (JSON lines, clip manifests, paths)
    ├── CanonicalisationError     a spec whose rules never reach a fixed point
    └── LabelStudioError          any failure talking to Label Studio, one clear message
        ├── LabelStudioUnavailable    server down or not answering
        ├── LabelStudioAuthError      token missing or rejected
        └── LabelStudioNotFound       unknown project, task or annotation

Foreign errors (YAML, regex, SDK, HTTP) are translated in one place each, with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "CanonicalisationError",
    "InputError",
    "LabelStudioAuthError",
    "LabelStudioError",
    "LabelStudioNotFound",
    "LabelStudioUnavailable",
    "LabelingError",
    "SpecError",
]


class LabelingError(Exception):
    """Base class of the errors raised by :mod:`labeling`."""


class SpecError(LabelingError):
    """The convention spec is malformed: an unknown key, a bad value or a regex that does not compile."""


class InputError(LabelingError):
    """Input data (JSON lines, a clip manifest, a path) is malformed."""


class CanonicalisationError(LabelingError):
    """The canonicaliser did not reach a fixed point (regex rules that undo each other)."""


class LabelStudioError(LabelingError):
    """Talking to Label Studio failed; the message says why and never contains credentials."""


class LabelStudioUnavailable(LabelStudioError):
    """Label Studio did not answer (server down, wrong URL, timeout)."""


class LabelStudioAuthError(LabelStudioError):
    """Label Studio rejected the API key, or none was given."""


class LabelStudioNotFound(LabelStudioError):
    """A project, task or annotation does not exist in Label Studio."""
