"""Whisper's greedy decode on the onnxruntime network (`_onnx_model`), with CTranslate2's rules.

The decoding rules are CTranslate2's `WhisperReplica::generate` (src/models/whisper.cc), step for step:

- `suppress_tokens` at every step, `suppress_blank` (the blank and end-of-text) at the first;
- with timestamps: `<|notimestamps|>` never; the first token a timestamp at most
  `max_initial_timestamp_index`; timestamps in pairs except before end-of-text; never a timestamp
  smaller than the last one; and a timestamp whenever the timestamps' total probability beats
  every other token's;
- greedy choice; the score is the sum of the chosen tokens' log-probabilities under those rules
  (end-of-text included); the no-speech probability is the softmax of the raw logits at
  `<|startoftranscript|>`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.engines._decoder import DecodeResult, SpecialTokens
from asr_service.engines._decoding import DecodeOptions
from asr_service.engines._onnx_model import OnnxWhisperModel
from asr_service.engines.base import yield_to_foreground

__all__ = ["OnnxWhisperDecoder"]

_NEG_INF = np.float32(-np.inf)


class OnnxWhisperDecoder:
    """`Decoder`: greedy, one token at a time on an `OnnxWhisperModel`.

    Thread-safe: `decode` keeps its state on the stack; the rules are read-only after loading.
    """

    def __init__(self, model: OnnxWhisperModel, tokens: SpecialTokens, options: DecodeOptions) -> None:
        self._model = model
        self._tokens = tokens
        vocab = model.dims.vocab
        suppressed = {i for i in _expand_suppress(list(options.suppress_tokens), list(model.suppress_ids))
                      if 0 <= i < vocab}
        blank = list(model.suppress_ids_begin) if options.suppress_blank else []
        max_initial = options.max_initial_timestamp_index
        # by `timestamps`: with them, <|notimestamps|> is never generated
        self._rules = {
            False: _Rules(suppressed=np.array(sorted(suppressed), dtype=np.int64), blank=blank, eot=tokens.eot,
                          timestamp_begin=None, max_initial_index=max_initial),
            True: _Rules(suppressed=np.array(sorted(suppressed | {tokens.no_timestamps}), dtype=np.int64),
                         blank=blank, eot=tokens.eot, timestamp_begin=tokens.timestamp_begin,
                         max_initial_index=max_initial),
        }
        self._last_row = np.zeros(1, dtype=np.int64)
        self._language_codes = tuple(code for code, _ in tokens.language_tokens)
        self._language_ids = np.array([token for _, token in tokens.language_tokens], dtype=np.int64)

    def detect_language(self, encoder_output: Any) -> tuple[str, float]:
        """Whisper's detection: one decoder step on <|startoftranscript|>, softmax over the language
        tokens only; the most probable language and its probability (ValueError on an English-only model)."""
        if not self._language_codes:
            raise ValueError("language: the model is English-only; it has no language tokens to detect")
        model = self._model
        cross = model.cross_attention(np.asarray(encoder_output)[0])
        logits, _ = model.forward([self._tokens.sot], 0, model.empty_cache(), cross, self._last_row)
        scores = logits[0][self._language_ids]
        best = int(np.argmax(scores))
        return self._language_codes[best], math.exp(float(scores[best]) - _logsumexp(scores))

    def decode(self, encoder_output: Any, prompt: list[int], *, max_new_tokens: int, timestamps: bool) -> DecodeResult:
        """Greedy decoding after `prompt` over one window's encoder output `[1, frames, d_model]`."""
        model, eot = self._model, self._tokens.eot
        positions = model.dims.max_positions
        if len(prompt) + max_new_tokens > positions:
            raise ValueError(f"prompt + max_new_tokens: more than the decoder's {positions} positions")
        cross = model.cross_attention(np.asarray(encoder_output)[0])
        rules = self._rules[timestamps]

        # the prompt: logits only where they are read, at <|startoftranscript|> and at the end
        rows = np.array([prompt.index(self._tokens.sot), len(prompt) - 1], dtype=np.int64)
        logits, cache = model.forward(prompt, 0, model.empty_cache(), cross, rows)
        no_speech_prob = math.exp(float(logits[0, self._tokens.no_speech]) - _logsumexp(logits[0]))
        last = logits[1]
        tokens: list[int] = []
        sum_logprob = 0.0
        ended = False
        while len(tokens) < max_new_tokens:
            yield_to_foreground()  # background work: between steps, not while a clip is being answered
            masked = rules.apply(last, tokens)
            token = int(np.argmax(masked))
            sum_logprob += float(masked[token] - _logsumexp(masked))
            if token == eot:
                ended = True
                break
            tokens.append(token)
            if len(tokens) < max_new_tokens:
                logits, cache = model.forward([token], len(prompt) + len(tokens) - 1, cache, cross, self._last_row)
                last = logits[0]
        return DecodeResult(tokens=tokens, sum_logprob=sum_logprob, ended=ended, no_speech_prob=no_speech_prob)


@dataclass(frozen=True, kw_only=True)
class _Rules:
    """The logit masks of one decode (CTranslate2's, see the module docstring)."""

    suppressed: npt.NDArray[np.int64]  # token ids
    blank: list[int]
    eot: int
    timestamp_begin: int | None  # None: decoding without timestamps
    max_initial_index: int

    def apply(self, logits: npt.NDArray[np.float32], tokens: list[int]) -> npt.NDArray[np.float32]:
        """The logits of the next token after `tokens`, with every rule applied, in place."""
        masked = logits
        masked[self.suppressed] = _NEG_INF
        step = len(tokens)
        if step == 0 and self.blank:
            masked[self.blank] = _NEG_INF
        if self.timestamp_begin is not None:
            _apply_timestamp_rules(masked, tokens, step, eot=self.eot, timestamp_begin=self.timestamp_begin,
                                   max_initial_index=self.max_initial_index)
        return masked


def _expand_suppress(suppress_tokens: list[int], default: list[int]) -> list[int]:
    """CTranslate2's reading: -1 stands for the model's default set of non-speech symbols."""
    expanded: list[int] = []
    for token in suppress_tokens:
        expanded.extend(default if token == -1 else [token] if token >= 0 else [])
    return expanded


def _apply_timestamp_rules(
    logits: npt.NDArray[np.float32], tokens: list[int], step: int, *, eot: int, timestamp_begin: int,
    max_initial_index: int,
) -> None:
    """CTranslate2's ApplyTimestampRules for one sequence, in place."""
    if step == 0:
        logits[:timestamp_begin] = _NEG_INF
        logits[timestamp_begin + max_initial_index + 1 :] = _NEG_INF
        return
    check_probability = True
    last = tokens[-1]
    if last >= timestamp_begin:
        penultimate = tokens[-2] if step > 1 else last
        if penultimate >= timestamp_begin:  # a closed pair: text (or end-of-text) next
            logits[timestamp_begin:] = _NEG_INF
            check_probability = False
        else:  # an opened segment's end: no text next
            logits[:eot] = _NEG_INF
    for token in reversed(tokens):
        if token >= timestamp_begin:  # timestamps do not decrease
            logits[timestamp_begin:token] = _NEG_INF
            break
    if check_probability:
        timestamp_mass = _logsumexp(logits[timestamp_begin:])
        if timestamp_mass > float(np.max(logits[:timestamp_begin])):
            logits[:timestamp_begin] = _NEG_INF


def _logsumexp(values: npt.NDArray[np.float32]) -> float:
    """log(sum(exp(values))) in float32, as CTranslate2's log-softmax (numpy's float32 exp is SIMD)."""
    top = values.max()
    if top == -np.inf:
        return float(top)
    shifted = values - top
    np.exp(shifted, out=shifted)
    return float(top) + float(np.log(shifted.sum(dtype=np.float32)))
