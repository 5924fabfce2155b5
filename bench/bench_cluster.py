"""Batch throughput on a local Dask cluster against the local pool, in the same run.

    python bench/bench_cluster.py [--manifest M] [--workers N] [--rounds 3] [--limit K] [--out FILE]

Both variants run `run_batch` (what `asr transcribe-batch` runs) over the same files, one after the
other within each round, the order swapped every round (these machines are noisy):

- `pool`: today's default, one in-process model (`LocalTranscriber`) with N clips at once on one thread
  each (`--workers N --threads 1`);
- `cluster`: `--cluster local --workers N`: a Dask `LocalCluster` on loopback with N worker processes of
  one thread, each loading its own model on its first file.

`cold` is the whole command as a user runs it: the model loaded (pool), or the cluster started and every
worker's model loaded (cluster), then the files; `warm` runs the files again on the loaded models (the
cluster still up), i.e. the throughput of a long batch. Prints one JSON line per run, then the medians
(files/s and seconds of audio per second) and cluster/pool, and whether both wrote the same transcripts.
Default: the shared speech (66 files, 537 s of audio) with N = the cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import soundfile

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import vad  # noqa: E402
from asr_service.client import LocalTranscriber  # noqa: E402
from asr_service.config import load_config  # noqa: E402
from asr_service.cores import usable_cores  # noqa: E402
from asr_service.evaluation import BatchItem, batch_items, file_transcriber, run_batch  # noqa: E402
from asr_service.evaluation.cluster import WorkerSpec, open_cluster  # noqa: E402
from asr_service.evaluation.transcription import FileTranscriber  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"


def _batch(items: list[BatchItem], out: Path, transcribe: FileTranscriber, workers: int) -> tuple[float, list[str]]:
    """Seconds to transcribe `items` into a fresh `out`, and the texts it wrote (in the items' order)."""
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    summary = run_batch(items, out, transcribe, workers=workers)
    elapsed = time.perf_counter() - started
    assert summary.transcribed == len(items), summary
    rows = {json.loads(line)["audio"]: json.loads(line)["text"] for line in out.read_text().splitlines()}
    return elapsed, [rows[item.key(out.parent)] for item in items]


def _pool(items: list[BatchItem], out: Path, workers: int) -> tuple[dict[str, float], list[str]]:
    started = time.perf_counter()
    config = load_config(overrides={"engine.num_workers": workers, "engine.cpu_threads": 1})
    transcriber = LocalTranscriber(config)
    try:
        transcribe = file_transcriber(transcriber, vad.VadOptions())
        first, texts = _batch(items, out, transcribe, workers)
        cold = time.perf_counter() - started
        warm, _ = _batch(items, out, transcribe, workers)
    finally:
        transcriber.close()
    return {"cold_s": cold, "startup_s": cold - first, "warm_s": warm}, texts


def _cluster(items: list[BatchItem], out: Path, workers: int) -> tuple[dict[str, float], list[str]]:
    started = time.perf_counter()
    config = load_config(overrides={"engine.num_workers": workers, "engine.cpu_threads": 1})
    on_cluster = open_cluster("local", WorkerSpec(config=config, vad_options=vad.VadOptions(), cpu_threads=1),
                              workers=workers)
    try:
        opened = time.perf_counter() - started
        _, texts = _batch(items, out, on_cluster, workers)
        cold = time.perf_counter() - started
        warm, _ = _batch(items, out, on_cluster, workers)
    finally:
        on_cluster.close()
    return {"cold_s": cold, "startup_s": opened, "warm_s": warm}, texts


def main() -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=SPEECH / "manifest.jsonl")
    parser.add_argument("--workers", type=int, default=usable_cores())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, help="only the first K files")
    parser.add_argument("--out", type=Path, help="also append the JSON lines here")
    args = parser.parse_args()
    items, _ = batch_items(args.manifest)
    items = items[: args.limit] if args.limit else items
    audio_s = sum(soundfile.info(str(item.path)).duration for item in items)
    variants: dict[str, Callable[[list[BatchItem], Path, int], tuple[dict[str, float], list[str]]]] = {
        "pool": _pool, "cluster": _cluster}
    runs: list[dict[str, Any]] = []
    texts: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        for round_ in range(args.rounds):
            for name in (("pool", "cluster") if round_ % 2 == 0 else ("cluster", "pool")):
                times, texts[name] = variants[name](items, Path(tmp) / f"{name}.jsonl", args.workers)
                run = {"bench": "cluster", "variant": name, "round": round_, "workers": args.workers,
                       "files": len(items), "audio_s": round(audio_s, 1), "cores": usable_cores(),
                       **{k: round(v, 2) for k, v in times.items()}}
                runs.append(run)
                print(json.dumps(run), flush=True)
                if args.out:
                    with args.out.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(run) + "\n")
    print(f"\n{len(items)} files, {audio_s:.0f} s of audio, {args.workers} workers, {usable_cores()} cores, "
          f"{args.rounds} rounds (medians)")
    print(f"{'variant':8} {'start s':>8} {'cold s':>7} {'files/s':>8} {'audio s/s':>10} {'warm s':>7} {'files/s':>8} "
          f"{'audio s/s':>10}")
    medians: dict[str, dict[str, float]] = {}
    for name in variants:
        mine = [r for r in runs if r["variant"] == name]
        medians[name] = {k: statistics.median(r[k] for r in mine) for k in ("startup_s", "cold_s", "warm_s")}
        m = medians[name]
        print(f"{name:8} {m['startup_s']:8.2f} {m['cold_s']:7.2f} {len(items) / m['cold_s']:8.2f} "
              f"{audio_s / m['cold_s']:10.1f} {m['warm_s']:7.2f} {len(items) / m['warm_s']:8.2f} "
              f"{audio_s / m['warm_s']:10.1f}")
    print(f"cluster/pool throughput: cold {medians['pool']['cold_s'] / medians['cluster']['cold_s']:.2f}x, "
          f"warm {medians['pool']['warm_s'] / medians['cluster']['warm_s']:.2f}x")
    print(f"same transcripts: {'yes' if texts['pool'] == texts['cluster'] else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
