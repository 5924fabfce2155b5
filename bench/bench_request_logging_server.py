"""What consented request logging adds to a request, through a real server on a real port.

Two servers in this process, the same model and settings except `[request_log]`: one with logging off,
one with every request kept (consent "audio and results", sample_share 1: the worst case, every clip's
audio written). Real speech clips from ../shared/data/speech (the default VAD's clips of <= 8 s) are sent
with `Recognize`, alternating between the servers request by request, so that the host's noise hits both
alike. Printed: the client's round trip and the server's own time per clip, p50/p95, off vs on, and the
difference.

`--engine stub` (default) answers instantly, so the difference is the logging path alone (consent check,
sampling, audio to int16, queue; the writer thread competing for the GIL); `--engine tiny.en` runs the
embedded model, the path users take, where engine noise is far larger than what logging adds.

    python bench/bench_request_logging_server.py [--requests 400] [--engine stub|tiny.en]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import vad  # noqa: E402
from asr_service.client import AsrClient  # noqa: E402
from asr_service.client._baseline import clips_of_pcm  # noqa: E402
from asr_service.config import RequestLogOptions, ServerConfig  # noqa: E402
from asr_service.engines import EngineInfo, EngineOptions, Transcription, create_engine  # noqa: E402
from asr_service.evaluation.manifest import load_manifest  # noqa: E402
from asr_service.server import BackgroundServer  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"


class StubEngine:
    """Answers at once: what is left of a request's time is the server's own path."""

    info = EngineInfo(model_id="stub", model_version="stub-1", engine="stub", config_hash="0")

    def __init__(self, options: EngineOptions | None = None) -> None:
        del options

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        return Transcription(text="set a timer for ten minutes", confidence=0.9, no_speech_prob=0.0,
                             avg_logprob=-0.1, num_tokens=6, window_s=audio.size / 16_000, used_fallback=False,
                             degenerate=False)

    def close(self) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests to each server")
    parser.add_argument("--engine", choices=("stub", "tiny.en"), default="stub")
    args = parser.parse_args()
    if not SPEECH.exists():
        sys.exit(f"{SPEECH} is absent: this benchmark needs the shared speech")
    clips = [c for u in load_manifest(SPEECH / "manifest.jsonl").utterances
             for c in clips_of_pcm(vad.read_audio(u.audio_path), vad.VadOptions()) if c.duration_s <= 8.0]
    factory = StubEngine if args.engine == "stub" else create_engine
    figures: dict[str, dict[str, list[float]]] = {"off": {"round_trip": [], "server": []},
                                                  "on": {"round_trip": [], "server": []}}
    with tempfile.TemporaryDirectory(prefix="asr-bench-log-") as tmp:
        base = {"port": 0, "shutdown_notice_s": 0.0}
        off = BackgroundServer(ServerConfig(**base), engine_factory=factory).start()  # type: ignore[arg-type]
        on = BackgroundServer(ServerConfig(**base, request_log=RequestLogOptions(dir=tmp, sample_share=1.0)),  # type: ignore[arg-type]
                              engine_factory=factory).start()
        try:
            with AsrClient(off.target) as plain, AsrClient(on.target, logging_consent="audio", subject_id="bench",
                                                           client_tags={"device": "bench"}) as logged:
                for client in (plain, logged):  # warm both paths
                    for clip in clips[:5]:
                        client.recognize_clip(clip)
                for i in range(args.requests):
                    clip = clips[i % len(clips)]
                    for name, client in (("off", plain), ("on", logged)) if i % 2 else (("on", logged), ("off", plain)):
                        result = client.recognize_clip(clip)
                        figures[name]["round_trip"].append(result.round_trip_ms)
                        figures[name]["server"].append(result.latency.server_total_ms)
        finally:
            off.stop(2.0)
            started = time.perf_counter()
            on.stop(10.0)
            drain_s = time.perf_counter() - started
        wavs = len(list(Path(tmp).rglob("*.wav")))
    rows = []
    for what in ("round_trip", "server"):
        p = {name: np.percentile(figures[name][what], [50, 95]) for name in ("off", "on")}
        row = {"figure": f"{what}_ms", "engine": args.engine, "requests": args.requests,
               "off_p50": round(float(p["off"][0]), 3), "on_p50": round(float(p["on"][0]), 3),
               "off_p95": round(float(p["off"][1]), 3), "on_p95": round(float(p["on"][1]), 3),
               "added_p95": round(float(p["on"][1] - p["off"][1]), 3)}
        rows.append(row)
        print(json.dumps(row))
    print(json.dumps({"wavs_written": wavs, "stop_with_drain_s": round(drain_s, 2)}))
    print(f"\n{'figure':14} {'off p50':>9} {'on p50':>9} {'off p95':>9} {'on p95':>9} {'added p95':>10}")
    for r in rows:
        print(f"{r['figure']:14} {r['off_p50']:>9} {r['on_p50']:>9} {r['off_p95']:>9} {r['on_p95']:>9} "
              f"{r['added_p95']:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
