"""Bytes per second of speech and WER by encoding (LINEAR16, FLAC, Ogg/Opus at several bitrates), through a real
server, LINEAR16 as the baseline in the same run.

Starts `asr serve` as its own process on a free loopback port, cuts each file of ../shared/data/speech into
clips with the client VAD (what a phone sends), and sends every clip with `Recognize` once per encoding,
encoded by `AsrClient(encoding=...)` as a client would. Bytes are the encoded clips (each one complete
file, headers included) over the seconds of those clips. WER is corpus WER (Whisper's English normaliser)
of each file's clip texts joined, against its reference.

A control row, "PCM +-1 LSB", sends LINEAR16 with each sample moved by -1, 0 or +1 at random (inaudible,
96 dB down): how much the model's output moves under a perturbation no codec is needed for, so the WER
change of a codec can be read against it. Each change also gets a paired bootstrap 95 % interval over the
files (asr_service.evaluation.bootstrap, 1000 resamples of the same files for both encodings).

The files are split in two halves by a hash of their path: "tune" (where the default Opus bitrate was
chosen) and "test" (the figure reported). Prints one JSON line per file and encoding, one per encoding and
split, and a table.

    python bench/bench_codecs.py [--limit N] [--opus-kbps 12,16,24,32] [--control-seeds N] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from bench_vad_path import dithered  # noqa: E402

import vad  # noqa: E402
from asr_service.audio import AudioFormat, ClipLimits, decode_clip  # noqa: E402
from asr_service.client import AsrClient  # noqa: E402
from asr_service.codecs import encode  # noqa: E402
from asr_service.evaluation.bootstrap import paired_bootstrap  # noqa: E402
from asr_service.evaluation.normalizers import get_normalizer  # noqa: E402
from asr_service.evaluation.scoring import score  # noqa: E402
from tests.wer import wer  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
LIMITS = ClipLimits(accepted_rates_hz=(16_000,), max_channels=1, max_clip_s=60.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def split_of(audio: str) -> str:
    """"tune" or "test", fixed by the file's path (so every run splits the same way)."""
    return "tune" if hashlib.sha256(audio.encode()).digest()[0] % 2 == 0 else "test"


CONTROL = "PCM +-1 LSB"


def _encodings(opus_kbps: list[float], control_seeds: int) -> list[tuple[str, str, int]]:
    """(label, AsrClient encoding, Opus bitrate in bit/s) of each encoding measured."""
    controls = [(CONTROL if k == 0 else f"{CONTROL} #{k}", "linear16", 24_000) for k in range(control_seeds)]
    return [("LINEAR16", "linear16", 24_000), *controls, ("FLAC", "flac", 24_000),
            *((f"OPUS {k:g}k", "ogg_opus", round(k * 1000)) for k in opus_kbps)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N files")
    parser.add_argument("--opus-kbps", default="12,16,24,32", help="Opus bitrates to measure, kbit/s")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--control-seeds", type=int, default=1, metavar="N",
                        help="N control rows, each with its own random +-1 LSB (the spread of the model's own noise)")
    parser.add_argument("--out", type=Path, help="also write the JSON lines here")
    args = parser.parse_args()
    if not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_codecs: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    manifest = [json.loads(x) for x in (SPEECH / "manifest.jsonl").read_text().splitlines() if x.strip()]
    if args.limit:
        manifest = manifest[: args.limit]
    files = [(item["audio"], item["text"], list(vad.iter_file_clips(SPEECH / item["audio"]))) for item in manifest]
    encodings = _encodings([float(k) for k in args.opus_kbps.split(",") if k], args.control_seeds)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port), "--model", args.model,
         "--log-level", "WARNING"],
    )
    # per encoding: per file (split, reference, hypothesis, bytes, seconds), and local decode time
    measured: dict[str, list[tuple[str, str, str, int, float]]] = {}
    decode_s: dict[str, float] = {}
    try:
        for label, encoding, bps in encodings:
            with AsrClient(f"127.0.0.1:{port}", timeout_s=120, encoding=encoding, opus_bitrate_bps=bps) as client:
                client.wait_ready(180)
                rows = []
                decode_s[label] = 0.0
                rng = np.random.default_rng(int(label.rpartition("#")[2]) if "#" in label else 0)
                for audio, reference, clips in files:
                    texts, sent, seconds = [], 0, 0.0
                    for clip in clips:
                        data = encode(clip.to_bytes(), sample_rate_hz=vad.SAMPLE_RATE_HZ, encoding=encoding,
                                      opus_bitrate_bps=bps)
                        started = time.perf_counter()  # what the server spends decoding, measured here alike
                        decode_clip(data, AudioFormat(sample_rate_hz=vad.SAMPLE_RATE_HZ, encoding=encoding), LIMITS)
                        decode_s[label] += time.perf_counter() - started
                        sent += len(data)
                        seconds += clip.duration_s
                        if label.startswith(CONTROL):
                            moved = dithered(clip.pcm, rng).astype("<i2").tobytes()
                            texts.append(client.recognize(moved, clip_id=str(clip.index)).text)
                        else:
                            texts.append(client.recognize_clip(clip).text)
                    rows.append((split_of(audio), reference, " ".join(t for t in texts if t), sent, seconds))
                measured[label] = rows
    finally:
        server.terminate()
        server.wait(30)
    lines: list[dict[str, object]] = []
    for label, _, _ in encodings:
        for audio, (split, reference, hypothesis, sent, seconds) in zip(
                (f[0] for f in files), measured[label], strict=True):
            lines.append({"file": audio, "split": split, "encoding": label, "bytes": sent,
                          "speech_s": round(seconds, 2), "wer_pct": round(wer([reference], [hypothesis]) * 100, 2),
                          "text": hypothesis})
    normalize = get_normalizer("whisper")

    def file_errors(rows: list[tuple[str, str, str, int, float]]) -> tuple[list[float], list[float]]:
        counts = [score(normalize(r[1]), normalize(r[2])).words for r in rows]
        return [float(c.errors) for c in counts], [float(c.reference_length) for c in counts]

    for split in ("tune", "test", "all"):
        base = None
        base_errors: list[float] = []
        for label, _, _ in encodings:
            rows = [r for r in measured[label] if split in ("all", r[0])]
            if not rows:
                continue
            error = wer([r[1] for r in rows], [r[2] for r in rows]) * 100
            sent, seconds = sum(r[3] for r in rows), sum(r[4] for r in rows)
            errors, lengths = file_errors(rows)
            if base is None:
                base, base_errors = (error, sent), errors
            paired = paired_bootstrap(base_errors, errors, lengths)
            interval = (round(paired.interval.low * 100, 2), round(paired.interval.high * 100, 2)) if paired else None
            lines.append({"split": split, "encoding": label, "files": len(rows), "speech_s": round(seconds, 1),
                          "bytes": sent, "bytes_per_s": round(sent / seconds),
                          "kbit_s": round(sent * 8 / seconds / 1000, 1),
                          "ratio_vs_linear16": round(base[1] / sent, 2), "wer_pct": round(error, 2),
                          "wer_change_points": round(error - base[0], 2), "change_ci95_points": interval,
                          "decode_ms_per_s": round(decode_s[label] * 1000 / sum(r[4] for r in measured[label]), 2)})
    text = "\n".join(json.dumps(line) for line in lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    print("\nsplit  encoding         files  bytes/s  kbit/s  x fewer than PCM   WER %   change  (95 % interval)"
          "   decode ms per s")
    for r in lines:
        if "file" in r:
            continue
        print(f"{r['split']:<6} {r['encoding']:<15} {r['files']:>5} {r['bytes_per_s']:>8} {r['kbit_s']:>7}"
              f" {r['ratio_vs_linear16']:>12.2f}x {r['wer_pct']:>12.2f} {r['wer_change_points']:>+8.2f}"
              f"  {_interval(r['change_ci95_points']):<16} {r['decode_ms_per_s']:>8.2f}")
    return 0


def _interval(value: object) -> str:
    if not isinstance(value, tuple | list):
        return "-"
    return f"[{value[0]:+.2f}, {value[1]:+.2f}]"


if __name__ == "__main__":
    sys.exit(main())
