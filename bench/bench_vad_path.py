"""What the client VAD costs in accuracy: the shared speech as whole files and as VAD clips, in one run.

    python bench/bench_vad_path.py [--split tune|report|all] [--vad KEY=VALUE ...] [--paths P1,P2] [--out FILE]

Paths (all by default), each over the same files:

- `whole`: each file through our engine at once (Whisper's own 30 s windows past 30 s);
- `faster-whisper`: each file through `WhisperModel(<same model>, compute_type="int8").transcribe(beam_size=1)`;
- `local-unary`: the client VAD's clips, each transcribed alone in-process (`LocalTranscriber.recognize_clip`);
- `local-session`: the same clips as one session in-process with `session_context` on
  (`LocalTranscriber.stream`: each clip conditioned on the text before it), run clip by clip in turn
  with `local-unary` so that their latencies are comparable;
- `joint` (not a product path): consecutive clips joined up to `--joint-s` seconds (20) and each block
  transcribed by the engine at once: what a second pass over the recent clips of a session would give;
- `server-unary` / `server-stream`: the same clips through `asr serve` on a loopback port, with
  `Recognize` one by one, and over one `StreamingRecognize` session (sent in lockstep, as live speech),
  with the server's default config (`--session-context` turns the server's session context on);
- `server-revised`: the `server-stream` session's texts after the server's revisions (the session asks for
  them: a second pass over blocks of clips heard together, asr_service/revisions.py), what a client that
  applies them shows once the session has ended. Its sessions are its own, after `server-stream`'s, so
  that its first results' latencies show what the second pass running beside them costs, and each clip
  is sent no sooner than where it starts in the file at `--pace` times the speed of speech (4): the
  second pass runs in the time between clips, which sending clips back to back would not leave it.

Prints one line per path: WER after Whisper's English normaliser and after the project's convention
normaliser, deletions and insertions (all, and within one word of a clip edge), clips per minute of
audio, and per-clip latency p50/p95 for clips of 8 s or less (server time for the clip paths, the call
for the whole-file paths; for files of 8 s or less, which is where the 1/3-of-faster-whisper target
is read). `--split tune` is the half of the files used to choose VAD and context defaults,
`--split report` the other half (the figure to report); a file's half is fixed by a hash of its path.
`--vad pre_padding_ms=300` runs the clip paths with another VAD setting (repeatable).
`--long` joins each speaker's files (in the split) into one talk with pauses between them, a stand-in
for the long lectures and readings the shared set lacks.
`--lecture` runs one generated talk instead of the shared speech: `bench/data/lecture.txt` read by
espeak-ng phrase by phrase (the Debian package), with pauses between the phrases (0.45-0.8 s inside a
sentence, 0.9-2.2 s between sentences) and white noise at -45 dBFS over the whole of it, as a lecture
recorded with some hiss: speech the model finds hard, cut by the VAD at every pause.
`--lecture bench/data/talk_heldout.txt --voice en-gb --wpm 165` reads another text the same way, in another
voice: that talk is held out, for checking a default chosen on the others, never for choosing one.
`--control-seeds 5` adds five runs of `whole`, `faster-whisper`, `local-unary`, `local-session` and `joint` (those
of them in `--paths`) on copies of the files with each sample moved by -1, 0 or +1 at random (inaudible; the same
copies for every path): how far the model's own noise moves WER, and each path's mean over the run and
its copies, a steadier figure than one run.
`--noise pink:10` puts each file in pink (or white, or brown) noise at that SNR in dB (against the file's
RMS), with `--noise-pad-s` seconds of the noise alone before and after it: a noisy room, where a VAD that
takes noise for speech sends clips of nothing (`python bench/bench_vad_path.py --split all --paths
whole,local-unary --noise pink:10 --vad detector=silero --vad frame_ms=32`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import numpy.typing as npt
from whisper_normalizer.english import EnglishTextNormalizer

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import vad  # noqa: E402
from asr_service.client import SERVER_REVISIONS_PACE, AsrClient, ClipResult, LocalTranscriber, Revision, paced, revised  # noqa: E402
from asr_service.config import ServerConfig  # noqa: E402
from asr_service.engines import EngineOptions, create_engine  # noqa: E402
from asr_service.engines._model_files import resolve_model  # noqa: E402
from asr_service.evaluation.bootstrap import paired_bootstrap  # noqa: E402
from asr_service.revisions import RevisionBlocks  # noqa: E402
from labeling import Normalizer  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
SHORT_S = 8.0
PATHS = ("whole", "faster-whisper", "local-unary", "local-session", "joint", "server-unary", "server-stream",
         "server-revised")
Audio = npt.NDArray[np.float32]
_whisper_norm = EnglishTextNormalizer()
_convention_norm = Normalizer()


def split_of(audio: str) -> str:
    """"tune" or "report": a fixed half of the files, by a hash of the audio path."""
    return "tune" if int(hashlib.sha256(audio.encode()).hexdigest(), 16) % 2 == 0 else "report"


@dataclasses.dataclass
class FileRun:
    """One file through one path: the text of each piece (one piece for the whole-file paths)."""

    pieces: list[str]
    latencies_ms: list[tuple[float, float]]  # (seconds of audio, ms) per piece


CONTROL = "+-1 LSB"  # --control-seeds: the files with inaudible noise, through these paths
CONTROLLED = ("whole", "faster-whisper", "local-unary", "local-session", "joint")
CONTROL_SEED = 1000
PAUSE_S = (0.3, 1.5)  # --long: the pause between two files, uniform in this range
ROOM_TONE_DBFS = -60.0  # --long: the level of the noise that fills the pauses
LECTURE = Path(__file__).parent / "data" / "lecture.txt"
LECTURE_PAUSE_S = ((0.45, 0.8), (0.9, 2.2))  # --lecture: inside a sentence, between sentences
LECTURE_HISS_DBFS = -45.0  # --lecture: white noise over the whole talk
JOINT_S = 20.0  # joint: the longest block of joined clips
PACE = SERVER_REVISIONS_PACE  # server-revised: clips sent at this many times the speed of speech


def long_talks(rows: list[dict[str, Any]], samples: dict[str, npt.NDArray[np.int16]], *, seed: int,
               pause_s: tuple[float, float] = PAUSE_S) -> tuple[list[dict[str, Any]], dict[str, npt.NDArray[np.int16]]]:
    """One talk per speaker with two files or more: the files in manifest order, each followed by a pause
    of room tone (white noise at `ROOM_TONE_DBFS`, uniform in `pause_s`), the references joined.

    The shared speech has few long recordings; a talk made of one speaker's utterances is where clip
    edges and the context between clips matter most, as in a lecture with pauses.
    """
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_speaker.setdefault(row["speaker"], []).append(row)
    talks: list[dict[str, Any]] = []
    joined: dict[str, npt.NDArray[np.int16]] = {}
    amplitude = 32768 * 10 ** (ROOM_TONE_DBFS / 20)
    for speaker, group in by_speaker.items():
        if len(group) < 2:
            continue
        parts: list[npt.NDArray[np.int16]] = []
        for row in group:
            pause = rng.normal(0, amplitude, round(rng.uniform(*pause_s) * 16_000))
            parts += [samples[row["audio"]], np.clip(pause, -32768, 32767).astype(np.int16)]
        name = f"talk:{speaker}"
        joined[name] = np.concatenate(parts)
        talks.append({"audio": name, "text": " ".join(r["text"] for r in group),
                      "duration": joined[name].size / 16_000, "speaker": speaker})
    return talks, joined


def lecture(seed: int, source: Path = LECTURE, voice: str = "en-us", wpm: int = 150,
            ) -> tuple[list[dict[str, Any]], dict[str, npt.NDArray[np.int16]]]:
    """`source` (one sentence a line, " | " at a pause) read by espeak-ng phrase by phrase, with pauses, in white
    noise at `LECTURE_HISS_DBFS`."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("--lecture: needs espeak-ng (Debian: apt install espeak-ng)")
    rng = np.random.default_rng(seed)
    sentences = [[p.strip() for p in line.split("|")] for line in source.read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    parts: list[npt.NDArray[np.float64]] = []
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "phrase.wav"
        for sentence in sentences:
            for k, phrase in enumerate(sentence):
                subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), phrase], check=True)
                parts.append(vad.read_audio(wav).astype(np.float64) * 0.7)  # resampled to 16 kHz
                low, high = LECTURE_PAUSE_S[k == len(sentence) - 1]
                parts.append(np.zeros(round(rng.uniform(low, high) * 16_000)))
    talk = np.concatenate([np.zeros(16_000), *parts])
    talk += rng.normal(0, 32768 * 10 ** (LECTURE_HISS_DBFS / 20), talk.size)
    text = " ".join(p for sentence in sentences for p in sentence)
    name = f"{source.stem}:espeak-ng"
    return ([{"audio": name, "text": text, "duration": talk.size / 16_000, "speaker": name}],
            {name: np.clip(np.round(talk), -32768, 32767).astype(np.int16)})


def joint_blocks(clips: list[vad.Clip], limit_s: float) -> list[Audio]:
    """The audio the server's second pass hears: its blocks of consecutive clips (`RevisionBlocks`, at most
    `limit_s`), each joined; a clip in no block of two or more stands alone, as its first result did."""
    blocks = RevisionBlocks(limit_s)
    closed = [blocks.add(str(k), as_audio(clip.pcm), "", 0.0) for k, clip in enumerate(clips)] + [blocks.close()]
    joined = {int(block.result_ids[0]): block for block in closed if block is not None}
    out: list[Audio] = []
    k = 0
    while k < len(clips):
        if k in joined:
            out.append(joined[k].joined())
            k += len(joined[k].result_ids)
        else:
            out.append(as_audio(clips[k].pcm))
            k += 1
    return out


def with_noise(pcm: npt.NDArray[np.int16], kind: str, snr_db: float, pad_s: float,
               rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """`pcm` with `pad_s` of silence each side, in `kind` noise ("white", "pink" or "brown") whose RMS is
    `snr_db` below the RMS of `pcm`."""
    pad = np.zeros(round(pad_s * 16_000))
    speech = np.concatenate([pad, pcm.astype(np.float64), pad])
    noise = rng.standard_normal(speech.size)
    if kind in ("pink", "brown"):  # power falling as 1/f or 1/f^2
        spectrum = np.fft.rfft(noise)
        spectrum /= np.maximum(np.arange(spectrum.size), 1) ** (0.5 if kind == "pink" else 1.0)
        noise = np.fft.irfft(spectrum, noise.size)
    elif kind != "white":
        raise SystemExit(f"--noise: unknown kind {kind!r} (white, pink, brown)")
    level = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) * 10 ** (-snr_db / 20)
    noise *= level / float(np.sqrt(np.mean(noise**2)))
    return np.clip(np.round(speech + noise), -32768, 32767).astype(np.int16)


def _vad_options(pairs: list[str]) -> vad.VadOptions:
    fields = {f.name: f for f in dataclasses.fields(vad.VadOptions)}
    values: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields:
            raise SystemExit(f"--vad {pair}: no VadOptions field {key!r} (one of {', '.join(fields)})")
        default = getattr(vad.VadOptions(), key)
        values[key] = value if isinstance(default, str) else type(default or 0.0)(value)
    return vad.VadOptions(**values)


def _words(text: str, normalise: Callable[[str], str]) -> list[str]:
    # Whisper's normaliser leaves a lone "." where a text ends in "..." ("Um..." -> "."): not a word.
    return [w for w in normalise(text).split() if any(c.isalnum() for c in w)]


def _edge_errors(ref: list[str], pieces: list[list[str]]) -> tuple[int, int, int, int]:
    """Deletions, insertions, and those of them within one word of a clip edge (start or end of any clip)."""
    hyp = [w for piece in pieces for w in piece]
    edges, at = {0}, 0
    for piece in pieces:
        at += len(piece)
        edges.add(at)
    if not ref:
        return 0, len(hyp), 0, len(hyp)
    out = jiwer.process_words(" ".join(ref), " ".join(hyp) if hyp else "")
    deletions = insertions = edge_del = edge_ins = 0
    for chunk in out.alignments[0]:
        if chunk.type == "delete":
            n = chunk.ref_end_idx - chunk.ref_start_idx
            deletions += n
            if any(abs(chunk.hyp_start_idx - e) <= 1 for e in edges):
                edge_del += n
        elif chunk.type == "insert":
            n = chunk.hyp_end_idx - chunk.hyp_start_idx
            insertions += n
            if any(chunk.hyp_start_idx - 1 <= e <= chunk.hyp_end_idx + 1 for e in edges):
                edge_ins += n
    return deletions, insertions, edge_del, edge_ins


def file_errors(rows: list[dict[str, Any]], runs: list[FileRun],
                normalise: Callable[[str], str]) -> tuple[list[float], list[float]]:
    """Word errors and reference words of each file (files whose reference normalises to nothing left out)."""
    errors, lengths = [], []
    for row, run in zip(rows, runs, strict=True):
        ref = " ".join(_words(row["text"], normalise))
        if ref:
            # the clips' texts joined, then normalised, as `asr eval` scores a file
            hyp = " ".join(_words(" ".join(run.pieces), normalise))
            out = jiwer.process_words(ref, hyp)
            errors.append(float(out.substitutions + out.deletions + out.insertions))
            lengths.append(float(len(ref.split())))
    return errors, lengths


NORMALISERS = (("wer_whisper", _whisper_norm), ("wer_convention", _convention_norm))


def score(name: str, rows: list[dict[str, Any]], runs: list[FileRun], minutes: float) -> dict[str, Any]:
    """The summary line of one path."""
    summary: dict[str, Any] = {"path": name}
    for label, normalise in NORMALISERS:
        errors, lengths = file_errors(rows, runs, normalise)
        summary[label] = round(100 * sum(errors) / sum(lengths), 2)
    totals = np.zeros(4, dtype=int)
    for row, run in zip(rows, runs, strict=True):
        pieces = [_words(p, _whisper_norm) for p in run.pieces]
        totals += np.array(_edge_errors(_words(row["text"], _whisper_norm), pieces))
    summary.update(deletions=int(totals[0]), insertions=int(totals[1]), edge_deletions=int(totals[2]),
                   edge_insertions=int(totals[3]))
    summary["pieces_per_min"] = round(sum(len(r.pieces) for r in runs) / minutes, 1)
    short = [ms for run in runs for s, ms in run.latencies_ms if s <= SHORT_S]
    if short:
        summary["short_p50_ms"] = round(float(np.percentile(short, 50)), 1)
        summary["short_p95_ms"] = round(float(np.percentile(short, 95)), 1)
        summary["short_n"] = len(short)
    return summary


def as_audio(pcm: npt.NDArray[np.int16]) -> Audio:
    """16-bit samples as the float32 audio in [-1, 1) the engines take."""
    return (pcm / 32768).astype(np.float32)


def dithered(pcm: npt.NDArray[np.int16], rng: np.random.Generator) -> npt.NDArray[np.int16]:
    """`pcm` with every sample moved by -1, 0 or +1 (inaudible)."""
    return np.clip(pcm.astype(np.int32) + rng.integers(-1, 2, size=pcm.shape), -32768, 32767).astype(np.int16)


def _controls(rows: list[dict[str, Any]], samples: dict[str, npt.NDArray[np.int16]],
              seeds: int) -> list[dict[str, npt.NDArray[np.int16]]]:
    """`seeds` copies of the files, each with its own inaudible noise (the same for every path)."""
    copies = []
    for k in range(seeds):
        rng = np.random.default_rng(CONTROL_SEED + k)
        copies.append({r["audio"]: dithered(samples[r["audio"]], rng) for r in rows})
    return copies


def _clip_run(clips: list[vad.Clip], results: Iterable[ClipResult]) -> FileRun:
    pieces, latencies = [], []
    for clip, result in zip(clips, results, strict=True):
        pieces.append(result.text)
        latencies.append((clip.end_s - clip.start_s, result.latency.server_total_ms))
    return FileRun(pieces, latencies)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("tune", "report", "all"), default="report")
    parser.add_argument("--vad", action="append", default=[], metavar="KEY=VALUE", help="a VadOptions field")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--session-context", action="store_true", help="the server's session_context on")
    parser.add_argument("--long", action="store_true",
                        help="each speaker's files joined into one talk with pauses (speakers with 2+ files)")
    parser.add_argument("--seed", type=int, default=7, help="for --long: the pauses between files")
    parser.add_argument("--pause-s", default=",".join(map(str, PAUSE_S)), metavar="LOW,HIGH",
                        help="for --long: the pause between files, uniform in LOW..HIGH s (under the VAD's "
                             "min_silence_ms, the talk runs on and the VAD must split it at max_clip_s)")
    parser.add_argument("--lecture", nargs="?", type=Path, const=LECTURE, metavar="TEXT",
                        help="one generated talk (espeak-ng, pauses, -45 dBFS hiss) instead of the shared speech: "
                             f"TEXT read aloud, one sentence a line, ' | ' at a pause (default {LECTURE.name})")
    parser.add_argument("--voice", default="en-us", help="for --lecture: the espeak-ng voice")
    parser.add_argument("--wpm", type=int, default=150, help="for --lecture: words a minute")
    parser.add_argument("--joint-s", type=float, default=JOINT_S, help="joint: the longest block of joined clips, s")
    parser.add_argument("--pace", type=float, default=PACE,
                        help="server-revised: clips sent at this many times the speed of speech (in lockstep)")
    parser.add_argument("--noise", metavar="KIND:SNR_DB", help="each file in noise: white, pink or brown, at SNR_DB")
    parser.add_argument("--noise-pad-s", type=float, default=2.0, help="for --noise: seconds of noise alone each side")
    parser.add_argument("--control-seeds", type=int, default=0, metavar="N",
                        help="N more runs of whole, faster-whisper, local-unary, local-session and joint on copies of "
                             "the files with each sample moved by -1, 0 or +1 (inaudible): the spread of the model's "
                             "own noise, "
                             "and each path's mean over the run and its copies")
    parser.add_argument("--out", type=Path, help="also write one JSON line per file and path here")
    args = parser.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if unknown := set(paths) - set(PATHS):
        raise SystemExit(f"--paths: unknown {', '.join(sorted(unknown))}")
    options = _vad_options(args.vad)
    if args.lecture:
        if not args.lecture.is_file():
            raise SystemExit(f"--lecture: no such text file: {args.lecture}")
        rows, samples = lecture(args.seed, args.lecture, args.voice, args.wpm)
    elif not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_vad_path: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    else:
        manifest = [json.loads(x) for x in (SPEECH / "manifest.jsonl").read_text().splitlines() if x.strip()]
        rows = [r for r in manifest if args.split == "all" or split_of(r["audio"]) == args.split]
        samples = {r["audio"]: vad.read_audio(SPEECH / r["audio"]) for r in rows}
    if args.noise:
        kind, _, snr = args.noise.partition(":")
        noise_rng = np.random.default_rng(args.seed)
        samples = {name: with_noise(pcm, kind, float(snr or 10), args.noise_pad_s, noise_rng)
                   for name, pcm in samples.items()}
    if args.long:
        low, _, high = args.pause_s.partition(",")
        rows, samples = long_talks(rows, samples, seed=args.seed, pause_s=(float(low), float(high or low)))
    minutes = sum(samples[r["audio"]].size for r in rows) / 16_000 / 60
    clips = {r["audio"]: list(vad.iter_pcm_clips(io.BytesIO(samples[r["audio"]].tobytes()), options)) for r in rows}
    pcm = {r["audio"]: as_audio(samples[r["audio"]]) for r in rows}
    print(f"{len(rows)} files ({'generated' if args.lecture else args.split + ' split'}), {minutes:.1f} min, "
          f"{sum(map(len, clips.values()))} clips; VAD {options}", flush=True)
    runs: dict[str, list[FileRun]] = {}

    def timed(fn: Callable[[Audio], str], audio: Audio) -> FileRun:
        start = time.perf_counter()
        text = fn(audio)
        return FileRun([text], [(audio.size / 16_000, (time.perf_counter() - start) * 1000)])

    if args.control_seeds < 0:
        raise SystemExit(f"--control-seeds: must be 0 or more, got {args.control_seeds}")
    if args.control_seeds and not set(CONTROLLED) & set(paths):
        raise SystemExit(f"--control-seeds: runs with {' or '.join(CONTROLLED)}, so --paths must include one")
    controls = _controls(rows, samples, args.control_seeds)
    if {"whole", "joint"} & set(paths):
        engine = create_engine(EngineOptions(model=args.model))
        engine.transcribe(pcm[rows[0]["audio"]])  # warm-up
        if "whole" in paths:
            runs["whole"] = [timed(lambda a: engine.transcribe(a).text, pcm[r["audio"]]) for r in rows]
            for k, copy in enumerate(controls, 1):
                runs[f"whole {CONTROL} #{k}"] = [
                    timed(lambda a: engine.transcribe(a).text, as_audio(copy[r["audio"]])) for r in rows]
        if "joint" in paths:

            def joint(file_clips: list[vad.Clip]) -> FileRun:
                block_runs = [timed(lambda a: engine.transcribe(a).text, block)
                              for block in joint_blocks(file_clips, args.joint_s)]
                return FileRun([t for b in block_runs for t in b.pieces],
                               [x for b in block_runs for x in b.latencies_ms])

            runs["joint"] = [joint(clips[r["audio"]]) for r in rows]
            for k, copy in enumerate(controls, 1):
                runs[f"joint {CONTROL} #{k}"] = [
                    joint(list(vad.iter_pcm_clips(io.BytesIO(copy[r["audio"]].tobytes()), options))) for r in rows]
        engine.close()
    if "faster-whisper" in paths:
        from faster_whisper import WhisperModel  # dev dependency: the baseline only

        baseline = WhisperModel(str(resolve_model(args.model).path), device="cpu", compute_type="int8")

        def fw(audio: Audio) -> str:
            segments, _ = baseline.transcribe(audio, beam_size=1)
            return "".join(s.text for s in segments).strip()

        fw(pcm[rows[0]["audio"]])
        runs["faster-whisper"] = [timed(fw, pcm[r["audio"]]) for r in rows]
        for k, copy in enumerate(controls, 1):
            runs[f"faster-whisper {CONTROL} #{k}"] = [
                timed(fw, as_audio(copy[r["audio"]])) for r in rows]
        del baseline
    if {"local-unary", "local-session"} & set(paths):
        local = LocalTranscriber(ServerConfig(session_context=True))
        local.recognize_clip(clips[rows[0]["audio"]][0])
        # Clip by clip, alone then in its session, so that machine noise hits both alike and the
        # latency difference is the context's own cost (a longer prompt to prefill).
        unary: list[FileRun] = []
        session: list[FileRun] = []
        for r in rows:
            file_clips = clips[r["audio"]]
            in_session = local.stream(file_clips)
            pairs = [(local.recognize_clip(c), next(in_session)) for c in file_clips]
            unary.append(_clip_run(file_clips, [u for u, _ in pairs]))
            session.append(_clip_run(file_clips, [s for _, s in pairs]))
        for name, file_runs in (("local-unary", unary), ("local-session", session)):
            if name in paths:
                runs[name] = file_runs
        for k, copy in enumerate(controls, 1):
            copy_clips = {r["audio"]: list(vad.iter_pcm_clips(io.BytesIO(copy[r["audio"]].tobytes()), options))
                          for r in rows}
            if "local-unary" in paths:
                runs[f"local-unary {CONTROL} #{k}"] = [
                    _clip_run(copy_clips[r["audio"]], [local.recognize_clip(c) for c in copy_clips[r["audio"]]])
                    for r in rows]
            if "local-session" in paths:
                runs[f"local-session {CONTROL} #{k}"] = [
                    _clip_run(copy_clips[r["audio"]], list(local.stream(copy_clips[r["audio"]]))) for r in rows]
        local.close()
    if {"server-unary", "server-stream", "server-revised"} & set(paths):
        port = _free_port()
        env = {**os.environ, "ASR_SESSION_CONTEXT": "true"} if args.session_context else None
        server = subprocess.Popen([sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port),
                                   "--model", args.model, "--log-level", "WARNING"], env=env)
        try:
            with AsrClient(f"127.0.0.1:{port}", timeout_s=120) as client:
                client.wait_ready(120)
                client.recognize_clip(clips[rows[0]["audio"]][0])
                if "server-unary" in paths:
                    runs["server-unary"] = [
                        _clip_run(clips[r["audio"]], [client.recognize_clip(c) for c in clips[r["audio"]]])
                        for r in rows]
                if "server-stream" in paths:
                    runs["server-stream"] = [
                        _clip_run(clips[r["audio"]], list(client.stream(clips[r["audio"]], lockstep=True)))
                        for r in rows]
                if "server-revised" in paths:  # its own sessions: their latencies show what the second pass costs
                    revised_runs = []
                    for r in rows:
                        revisions: list[Revision] = []
                        results = list(client.stream(paced(clips[r["audio"]], args.pace), lockstep=True,
                                                     on_revision=revisions.append))
                        texts = revised([(x.result_id, x.text) for x in results], revisions)
                        revised_runs.append(FileRun(texts, _clip_run(clips[r["audio"]], results).latencies_ms))
                    runs["server-revised"] = revised_runs
        finally:
            server.terminate()
            server.wait(30)
    if args.out:
        with args.out.open("w") as out:
            for name, file_runs in runs.items():
                for row, run in zip(rows, file_runs, strict=True):
                    out.write(json.dumps({"path": name, "audio": row["audio"], "reference": row["text"],
                                          "pieces": run.pieces, "latencies_ms": run.latencies_ms}) + "\n")
    summaries = [score(name, rows, file_runs, minutes) for name, file_runs in runs.items()]
    for s in summaries:
        print(json.dumps(s))
    print(f"\n{'path':22} {'WER whisper':>11} {'convention':>10} {'del (edge)':>11} {'ins (edge)':>11} "
          f"{'pieces/min':>10} {'p50/p95 ms (<=8 s)':>19}")
    for s in summaries:
        latency = f"{s.get('short_p50_ms', float('nan')):.0f}/{s.get('short_p95_ms', float('nan')):.0f}"
        print(f"{s['path']:22} {s['wer_whisper']:10.2f}% {s['wer_convention']:9.2f}% "
              f"{s['deletions']:5d} ({s['edge_deletions']:3d}) {s['insertions']:5d} ({s['edge_insertions']:3d}) "
              f"{s['pieces_per_min']:10.1f} {latency:>19}")
    if "whole" in runs:  # each path against whole files: the paired bootstrap over files (1000 resamples)
        print("\nchange against whole files, points (paired bootstrap 95 % interval over the files):")
        for name, file_runs in runs.items():
            if name == "whole":
                continue
            parts = []
            for label, normalise in NORMALISERS:
                base, lengths = file_errors(rows, runs["whole"], normalise)
                paired = paired_bootstrap(base, file_errors(rows, file_runs, normalise)[0], lengths)
                if paired is not None:
                    parts.append(f"{label.removeprefix('wer_')} {100 * paired.delta:+.2f} "
                                 f"[{100 * paired.interval.low:+.2f}, {100 * paired.interval.high:+.2f}]")
            print(f"  {name:22} " + "   ".join(parts))
    by_name = {s["path"]: s for s in summaries}
    if args.control_seeds:
        # one draw of the model's noise is the run itself; the mean over it and its noisy copies is steadier
        print(f"\nmean over the run and its {args.control_seeds} inaudible copies (min..max):")
        means: dict[str, dict[str, float]] = {}
        for base in CONTROLLED:
            names = [base, *(f"{base} {CONTROL} #{k}" for k in range(1, args.control_seeds + 1))]
            if not all(n in by_name for n in names):
                continue
            parts = []
            for label, _ in NORMALISERS:
                values = [by_name[n][label] for n in names]
                means.setdefault(base, {})[label] = float(np.mean(values))
                parts.append(f"{label.removeprefix('wer_')} {np.mean(values):.2f} % "
                             f"({min(values):.2f}..{max(values):.2f})")
            print(f"  {base:22} " + "   ".join(parts))
        for clip_path in ("local-unary", "local-session", "joint"):
            for other in ("whole", "faster-whisper"):
                if clip_path in means and other in means:
                    print(f"  {clip_path} - {other}: " + "   ".join(
                        f"{label.removeprefix('wer_')} {means[clip_path][label] - means[other][label]:+.2f} points"
                        for label, _ in NORMALISERS))
    if "faster-whisper" in by_name and "short_p95_ms" in by_name["faster-whisper"]:
        for name in ("server-stream", "server-revised"):
            if "short_p95_ms" in by_name.get(name, {}):
                ratio = by_name[name]["short_p95_ms"] / by_name["faster-whisper"]["short_p95_ms"]
                print(f"{name} p95 / faster-whisper p95 (<= 8 s): {ratio:.2f} (target <= 0.33)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
