"""The drift baseline: a reference profile of clip features from a dev set, stored as JSON.

`build_baseline()` runs each manifest file through the client VAD, measures each clip as the
server does, and (unless `transcribe=False`) runs the recognizer in-process, so that the
model features (confidence, words per second, null rate) come from the very code that serves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import vad
from asr_service.client import clip_vad_stats, decode_vad_clip
from asr_service.config import ServerConfig
from asr_service.engines import Engine, EngineOptions, create_engine
from asr_service.errors import ConfigError
from asr_service.evaluation.manifest import load_manifest
from asr_service.monitoring._drift import DriftMonitor, DriftOptions
from asr_service.monitoring._features import NUMERIC_FEATURES, ClipFeatures, features_of_clip, features_of_result
from asr_service.recognizer import Recognizer

__all__ = ["BASELINE_FORMAT", "Baseline", "build_baseline", "clips_of_pcm", "manifest_clips"]

logger = logging.getLogger(__name__)

BASELINE_FORMAT = "asr-drift-baseline/1"
PcmTransform = Callable[[npt.NDArray[np.int16]], npt.NDArray[np.int16]]


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """Reference values per feature (one per clip) and the null rate (None without a model)."""

    source: str
    clips: int
    features: dict[str, list[float]]
    null_rate: float | None
    vad_options: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""
    created_s: float = 0.0

    @classmethod
    def from_features(cls, rows: list[ClipFeatures], *, source: str, **extra: Any) -> Baseline:
        """A baseline from per-clip features."""
        features = {name: [v for r in rows if (v := getattr(r, name)) is not None] for name in NUMERIC_FEATURES}
        judged = [r.is_null for r in rows if r.is_null is not None]
        null_rate = sum(judged) / len(judged) if judged else None
        return cls(source=source, clips=len(rows), features=features, null_rate=null_rate,
                   created_s=time.time(), **extra)

    def drift_monitor(self, options: DriftOptions | None = None) -> DriftMonitor:
        """A drift monitor against this baseline."""
        return DriftMonitor(self.features, self.null_rate, options)

    def save(self, path: str | Path) -> None:
        """Write as JSON."""
        data = {"format": BASELINE_FORMAT, **dataclasses.asdict(self)}
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read a file written by `save` (ConfigError naming the file when it is not one)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"monitoring.baseline_path: cannot read {path} as a baseline ({exc})") from exc
        if not isinstance(data, dict) or data.pop("format", None) != BASELINE_FORMAT:
            raise ConfigError(
                f"monitoring.baseline_path: {path} is not a {BASELINE_FORMAT} file (make one: asr monitor baseline)")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"monitoring.baseline_path: {path}: {exc}") from exc


def clips_of_pcm(pcm: npt.NDArray[np.int16], options: vad.VadOptions) -> list[vad.Clip]:
    """The client VAD's clips of a whole 16 kHz recording."""
    segmenter = vad.Segmenter(options)
    return [*segmenter.push(pcm), *segmenter.flush()]


def manifest_clips(
    manifest: str | Path, options: vad.VadOptions, *, transform: PcmTransform | None = None
) -> Iterator[tuple[str, vad.Clip]]:
    """(utt_id, clip) for every file of a manifest, through `transform` (e.g. a gain) and the VAD."""
    loaded = load_manifest(manifest)
    for utt in loaded.utterances:
        pcm = vad.read_audio(utt.audio_path)
        for clip in clips_of_pcm(transform(pcm) if transform else pcm, options):
            yield utt.utt_id, clip


class ClipTranscriber:
    """Runs clips through an in-process recognizer (the server's code path) and returns their features."""

    def __init__(self, config: ServerConfig, engine_factory: Callable[[EngineOptions], Engine] = create_engine) -> None:
        self._config = config
        self._runner = asyncio.Runner()
        self._recognizer = Recognizer(engine_factory(config.engine), config)

    @property
    def model_version(self) -> str:
        """The model's version."""
        return self._recognizer.info.model_version

    def features(self, clip: vad.Clip) -> ClipFeatures:
        """Features of `clip` with the model's output."""
        decoded = decode_vad_clip(clip, self._config.clip_limits, pitch=True)
        result = self._runner.run(self._recognizer.recognize(
            decoded, clip_id=str(clip.index), received_at=time.perf_counter(), vad=clip_vad_stats(clip)))
        return features_of_result(result)

    def close(self) -> None:
        """Release the model and the loop."""
        self._recognizer.close()
        self._runner.close()


def build_baseline(
    manifest: str | Path,
    *,
    vad_options: vad.VadOptions | None = None,
    config: ServerConfig | None = None,
    transcribe: bool = True,
    engine_factory: Callable[[EngineOptions], Engine] = create_engine,
) -> Baseline:
    """A baseline from a manifest's audio: VAD, audio measurements and (when `transcribe`) the model."""
    options = vad_options or vad.VadOptions()
    server_config = config or ServerConfig()
    transcriber = ClipTranscriber(server_config, engine_factory) if transcribe else None
    rows: list[ClipFeatures] = []
    try:
        for _, clip in manifest_clips(manifest, options):
            rows.append(transcriber.features(clip) if transcriber else features_of_clip(clip))
        model_version = transcriber.model_version if transcriber else ""
    finally:
        if transcriber:
            transcriber.close()
    logger.info("baseline from %s: %d clips", manifest, len(rows))
    return Baseline.from_features(rows, source=str(manifest), vad_options=dataclasses.asdict(options),
                                  model_version=model_version)
