"""`asr silero install|status`: the Silero VAD's model and onnxruntime-web runtime, installed apart (17 MB)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from asr_service.cli._common import fail

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `silero` (with `install` and `status`)."""
    silero = subparsers.add_parser(
        "silero", help="the Silero VAD's assets (the model, onnxruntime-web): install, status")
    tools = silero.add_subparsers(dest="silero_command", required=True, metavar="TOOL")
    install = tools.add_parser(
        "install", help="fetch and check the Silero model and onnxruntime-web's runtime",
        description="Put silero_vad_v5.onnx (from @ricky0123/vad-web 0.0.31) and ort-wasm-simd-threaded.wasm "
        "(from onnxruntime-web 1.31.1) in DIR, each checked against a pinned SHA-256: the npm packages' "
        "tarballs are fetched from the npm registry (their SHA-512 checked; no node needed), or, with --from, "
        "the files are copied from a node_modules folder. Then `--vad-detector silero` works in Python, and "
        "the server's /app/ offers Silero (?detector=silero).")
    install.add_argument("--dir", type=Path, metavar="DIR",
                         help="where to put them (default $ASR_SILERO_DIR, else ~/.cache/asr-service/silero; the "
                         "server and the VAD look there)")
    install.add_argument("--from", dest="from_node_modules", type=Path, metavar="NODE_MODULES",
                         help="copy from this node_modules folder (e.g. web/node_modules after npm ci) instead of "
                         "downloading")
    install.add_argument("--no-progress", action="store_true", help="no progress bar")
    install.set_defaults(func=run_install)
    status = tools.add_parser("status", help="whether the Silero assets are installed, and where")
    status.add_argument("--dir", type=Path, metavar="DIR", help="the folder to look in (default as for install)")
    status.set_defaults(func=run_status)


def run_install(args: argparse.Namespace) -> int:
    """Install, with a progress bar per download."""
    from tqdm import tqdm

    from asr_service.webapp._silero import install

    bars: dict[str, tqdm[Any]] = {}

    def progress(url: str, done: int, total: int) -> None:
        if url not in bars:
            bars[url] = tqdm(total=total or None, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                             disable=args.no_progress)
        bars[url].update(done - bars[url].n)

    try:
        paths = install(args.dir, from_node_modules=args.from_node_modules, progress=progress)
    except (OSError, ValueError) as error:
        return fail(f"silero install: {error}")
    finally:
        for bar in bars.values():
            bar.close()
    for path in paths:
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, sha256 checked)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Exit 0 when installed, 1 when something is missing."""
    from asr_service.webapp._silero import SILERO_ASSETS, missing
    from vad.detectors._silero import silero_dir

    directory = args.dir or silero_dir()
    absent = missing(directory)
    for asset in SILERO_ASSETS:
        state = "missing or not the pinned file" if asset.name in absent else "ok"
        print(f"{directory / asset.name}: {state} ({asset.package} {asset.version})")
    if absent:
        return fail("silero: not installed: run `asr silero install`")
    return 0
