"""The one exception of the VAD library.

Exception tree::

    ValueError
     └── VadError          bad input (odd byte count, wrong dtype/shape, unsupported rate),
                           unreadable or missing audio file, misuse of a finished Segmenter

Option validation (``VadOptions``) raises a plain ``ValueError`` naming the field, as the dataclass is
checked where it is built. Errors from soundfile are translated to ``VadError`` in ``_sources`` with
``raise ... from exc`` so the original cause stays visible.
"""

from __future__ import annotations

__all__ = ["VadError"]


class VadError(ValueError):
    """Bad audio input or an unreadable audio source; the message says what and where."""
