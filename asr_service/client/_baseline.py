"""A drift baseline from a dev set, built on the client side: a manifest's files through the client VAD.

`build_baseline()` runs each manifest file through the client VAD, measures each clip as the server
does, and (unless `transcribe=False`) transcribes it with `LocalTranscriber`, so that the model
features (confidence, words per second, null rate) come from the very code that serves. The
server loads the result (`asr serve --baseline FILE`) and compares live traffic with it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

import vad
from asr_service.audio import ClipLimits
from asr_service.client._clips import clip_vad_stats, decode_vad_clip
from asr_service.client._local import LocalTranscriber
from asr_service.config import ServerConfig
from asr_service.engines import EngineFactory, create_engine
from asr_service.evaluation.errors import ManifestError
from asr_service.evaluation.manifest import load_manifest
from asr_service.monitoring import Baseline, ClipFeatures, audio_features, features_of_result

__all__ = ["build_baseline", "clips_of_pcm", "features_of_clip", "manifest_clips"]

logger = logging.getLogger(__name__)

PcmTransform = Callable[[npt.NDArray[np.int16]], npt.NDArray[np.int16]]
# Baseline clips come from the client VAD (16 kHz mono, split at its own max_clip_s): no server limit.
_CLIP_LIMITS = ClipLimits(accepted_rates_hz=(vad.SAMPLE_RATE_HZ,), max_channels=1, max_clip_s=float("inf"))


def clips_of_pcm(pcm: npt.NDArray[np.int16], options: vad.VadOptions) -> list[vad.Clip]:
    """The client VAD's clips of a whole 16 kHz recording."""
    segmenter = vad.Segmenter(options)
    return [*segmenter.push(pcm), *segmenter.flush()]


def manifest_clips(
    manifest: str | Path, options: vad.VadOptions, *, transform: PcmTransform | None = None
) -> Iterator[tuple[str, vad.Clip]]:
    """(utt_id, clip) for every file of a manifest, through `transform` (e.g. a gain) and the VAD.

    A folder is read as the server's request log: the manifest of each daily partition, oldest first
    (only its clips with audio; no reference is needed). Each row's audio goes through the VAD again, as
    a client would cut it."""
    for path in _manifests(Path(manifest)):
        for utt in load_manifest(path, references=False).utterances:
            pcm = vad.read_audio(utt.audio_path)
            for clip in clips_of_pcm(transform(pcm) if transform else pcm, options):
                yield utt.utt_id, clip


def _manifests(path: Path) -> list[Path]:
    """`path` itself, or for a request-log folder the manifests of its daily partitions."""
    if not path.is_dir():
        return [path]
    days = sorted(path.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]/manifest.jsonl"))
    if not days:
        raise ManifestError(f"{path}: a folder, but not a request log (no YYYY-MM-DD/manifest.jsonl in it)")
    return days


def features_of_clip(clip: vad.Clip) -> ClipFeatures:
    """Audio and VAD features of a client clip, without a model: measured by the server's own code."""
    decoded = decode_vad_clip(clip, _CLIP_LIMITS, pitch=True)
    return audio_features(decoded.stats, clip_vad_stats(clip))


def build_baseline(
    manifest: str | Path,
    *,
    vad_options: vad.VadOptions | None = None,
    config: ServerConfig | None = None,
    transcribe: bool = True,
    engine_factory: EngineFactory = create_engine,
) -> Baseline:
    """A baseline from a manifest's audio: VAD, audio measurements and (when `transcribe`) the model."""
    options = vad_options or vad.VadOptions()
    server_config = config or ServerConfig()
    transcriber = LocalTranscriber(server_config, engine_factory=engine_factory, pitch=True) if transcribe else None
    rows: list[ClipFeatures] = []
    try:
        for _, clip in manifest_clips(manifest, options):
            rows.append(features_of_result(transcriber.recognize_clip(clip)) if transcriber else features_of_clip(clip))
        model_version = transcriber.recognizer.info.model_version if transcriber else ""
    finally:
        if transcriber:
            transcriber.close()
    logger.info("baseline from %s: %d clips", manifest, len(rows))
    return Baseline.from_features(rows, source=str(manifest), vad_options=dataclasses.asdict(options),
                                  model_version=model_version)
