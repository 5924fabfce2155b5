"""Which consented results are worth keeping: the ones a human should look at, and a random share.

Low confidence and empty transcripts are where the model is likely wrong, so they are kept whenever
the options say so; a random share of the rest keeps an unbiased sample of ordinary traffic, without
which an evaluation set built from the log would only contain the hard cases.
"""

from __future__ import annotations

import random

from asr_service.config import RequestLogOptions

__all__ = ["sampling_reason"]


def sampling_reason(options: RequestLogOptions, *, confidence: float, has_text: bool,
                    rng: random.Random) -> str | None:
    """Why this result is logged ("null", "low_confidence" or "random"), or None to skip it.

    A result without text is "null" when `sample_nulls`; a result with text under
    `sample_below_confidence` is "low_confidence"; any other result is "random" with probability
    `sample_share`. `rng` is drawn only for that last case, so a seeded generator gives reproducible
    choices in tests.
    """
    if not has_text and options.sample_nulls:
        return "null"
    if has_text and confidence < options.sample_below_confidence:
        return "low_confidence"
    if options.sample_share > 0 and rng.random() < options.sample_share:
        return "random"
    return None
