"""End-to-end latency through gRPC, from the end of a clip to its result, and the server's memory.

Starts `asr serve` as its own process on a free loopback port (as a user would), cuts each file of
../shared/data/speech into clips with the client VAD, and sends every clip twice: with `Recognize`
(unary) and over one `StreamingRecognize` session per file (end-of-utterance mark -> result; each clip
sent once the previous one is answered, as a live source's clips are spaced by speech). Prints one JSON
line per clip and call, a summary per call kind (all clips and clips of 8 s or less), the server
process's peak RSS, and a short table.

    python bench/bench_e2e.py [--limit N] [--out FILE] [--model M]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import vad  # noqa: E402
from asr_service.client import AsrClient, ClipResult  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
SHORT_S = 8.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process in MB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _summary(kind: str, rows: list[dict[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {"summary": kind, "clips": len(rows)}
    for label, subset in (("all", rows), ("le8s", [r for r in rows if float(r["duration_s"]) <= SHORT_S])):  # type: ignore[arg-type]
        rt = np.array([float(r["round_trip_ms"]) for r in subset])  # type: ignore[arg-type]
        server = np.array([float(r["server_total_ms"]) for r in subset])  # type: ignore[arg-type]
        if rt.size:
            out[f"{label}_n"] = int(rt.size)
            out[f"{label}_round_trip_p50_ms"] = round(float(np.percentile(rt, 50)), 1)
            out[f"{label}_round_trip_p95_ms"] = round(float(np.percentile(rt, 95)), 1)
            out[f"{label}_server_p50_ms"] = round(float(np.percentile(server, 50)), 1)
            out[f"{label}_server_p95_ms"] = round(float(np.percentile(server, 95)), 1)
            out[f"{label}_over_budget"] = int(sum(bool(r["budget_exceeded"]) for r in subset))
    return out


def _row(kind: str, audio: str, clip: vad.Clip, result: ClipResult) -> dict[str, object]:
    return {
        "kind": kind, "audio": audio, "clip": clip.index, "duration_s": round(clip.duration_s, 3),
        "round_trip_ms": round(result.round_trip_ms, 2), "server_total_ms": round(result.latency.server_total_ms, 2),
        "inference_ms": round(result.latency.inference_ms, 2), "queue_wait_ms": round(result.latency.queue_wait_ms, 2),
        "budget_exceeded": result.budget_exceeded, "text": result.text,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N files")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--out", type=Path, help="also write the JSON lines here")
    args = parser.parse_args()
    if not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_e2e: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    manifest = [json.loads(x) for x in (SPEECH / "manifest.jsonl").read_text().splitlines() if x.strip()]
    if args.limit:
        manifest = manifest[: args.limit]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port), "--model", args.model,
         "--log-level", "WARNING", "--budget-ms", "300"],
    )
    lines: list[dict[str, object]] = []
    try:
        with AsrClient(f"127.0.0.1:{port}", timeout_s=120) as client:
            client.wait_ready(120)
            rss_idle, _ = _rss_mb(server.pid)
            warm = list(vad.iter_file_clips(SPEECH / manifest[0]["audio"]))
            for clip in warm[:2]:
                client.recognize_clip(clip)
            rows: dict[str, list[dict[str, object]]] = {"unary": [], "streaming": []}
            for item in manifest:
                clips = list(vad.iter_file_clips(SPEECH / item["audio"]))
                for clip in clips:
                    rows["unary"].append(_row("unary", item["audio"], clip, client.recognize_clip(clip)))
                for clip, result in zip(clips, client.stream(clips, lockstep=True), strict=True):
                    rows["streaming"].append(_row("streaming", item["audio"], clip, result))
            rss_now, rss_peak = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    for kind in ("unary", "streaming"):
        lines.extend(rows[kind])
    summaries = [_summary(kind, rows[kind]) for kind in ("unary", "streaming")]
    memory = {"summary": "server_memory", "rss_idle_mb": round(rss_idle, 1), "rss_after_mb": round(rss_now, 1),
              "rss_peak_mb": round(rss_peak, 1), "target_mb": 500}
    lines.extend([*summaries, memory])
    text = "\n".join(json.dumps(line) for line in lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    print("\ncall        clips(<=8s)  round-trip p50/p95 (<=8s)  server p50/p95 (<=8s)  over budget")
    for s in summaries:
        print(f"{s['summary']:<11} {s['clips']:>4} ({s.get('le8s_n', 0):>3})"
              f"   {s.get('le8s_round_trip_p50_ms', 0):>7.1f} / {s.get('le8s_round_trip_p95_ms', 0):>6.1f} ms"
              f"      {s.get('le8s_server_p50_ms', 0):>6.1f} / {s.get('le8s_server_p95_ms', 0):>6.1f} ms"
              f"     {s.get('all_over_budget', 0)}")
    print(f"server RSS: idle {rss_idle:.0f} MB, after {rss_now:.0f} MB, peak {rss_peak:.0f} MB (target < 500 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
