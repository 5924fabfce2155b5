"""Speech-to-text engines behind one small protocol, picked by name from a registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from asr_service.engines.base import (
    EMBEDDED_MODEL,
    SAMPLE_RATE_HZ,
    Engine,
    EngineInfo,
    EngineOptions,
    Transcription,
    in_background,
    mark_background_thread,
)
from asr_service.errors import ConfigError

__all__ = [
    "EMBEDDED_MODEL",
    "ENGINES",
    "SAMPLE_RATE_HZ",
    "Engine",
    "EngineFactory",
    "EngineInfo",
    "EngineOptions",
    "Transcription",
    "create_engine",
    "in_background",
    "mark_background_thread",
]

# name -> "module:Class"; imported lazily so that an optional engine's dependencies are only
# needed when it is picked.
ENGINES: dict[str, str] = {
    "ctranslate2-whisper": "asr_service.engines.ctranslate2_whisper:CTranslate2WhisperEngine",
    # a Hugging Face checkpoint directory on transformers (CPU); needs the `convert` extra
    "transformers-whisper": "asr_service.engines.transformers_whisper:TransformersWhisperEngine",
}

EngineFactory = Callable[[EngineOptions], Engine]
"""What loads an engine from its options: `create_engine`, or a test's fake."""


def create_engine(options: EngineOptions) -> Engine:
    """Load the engine that `options.engine` names, with `options` (ConfigError for an unknown name)."""
    try:
        target = ENGINES[options.engine]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise ConfigError(f"engine: unknown engine {options.engine!r} (known: {known})") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    engine: Engine = cls(options)
    return engine
