"""`asr logs purge` (a subject's rows and audio, or whole old days) and `asr logs stats` on a request log store."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from asr_service.cli._common import fail

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `logs` (with `purge` and `stats`)."""
    logs = subparsers.add_parser("logs", help="the consented request log (purge, stats)")
    tools = logs.add_subparsers(dest="logs_command", required=True, metavar="TOOL")
    purge = tools.add_parser(
        "purge",
        help="delete a subject's rows and audio, or whole days, from a request log",
        description="Remove every row (clips and feedback) of --subject and their audio files from every day "
        "of DIR, and/or every day before --before. Safe while a server writes to DIR (it takes the store's "
        "lock). Prints what it removed.",
    )
    purge.add_argument("dir", metavar="DIR", help="the request log folder ([request_log] dir)")
    purge.add_argument("--subject", metavar="ID", help="the pseudonymous subject id whose rows go")
    purge.add_argument("--before", metavar="YYYY-MM-DD", help="delete every day before this one (UTC)")
    purge.set_defaults(func=run_purge)
    stats = tools.add_parser("stats", help="what a request log holds",
                             description="Count the days, rows, clips with audio and bytes of DIR.")
    stats.add_argument("dir", metavar="DIR", help="the request log folder ([request_log] dir)")
    stats.set_defaults(func=run_stats)


def run_purge(args: argparse.Namespace) -> int:
    """Purge and print what went."""
    from asr_service.request_log import purge

    if args.subject is None and args.before is None:
        return fail("logs purge: give --subject ID, --before YYYY-MM-DD, or both")
    before = None
    if args.before is not None:
        try:
            before = date.fromisoformat(args.before)
        except ValueError:
            return fail(f"logs purge: --before {args.before!r} is not a date (YYYY-MM-DD)")
    if not Path(args.dir).is_dir():
        return fail(f"logs purge: {args.dir}: no such directory")
    try:
        result = purge(args.dir, subject=args.subject, before=before)
    except (ValueError, OSError) as exc:
        return fail(f"logs purge: {exc}")
    what = [f"subject {args.subject!r}"] if args.subject is not None else []
    what += [f"days before {before}"] if before is not None else []
    counts = [_count(result.rows, "row"), _count(result.feedback_rows, "feedback row"),
              _count(result.files, "audio file"), _count(result.partitions, "day")]
    print(f"purged {' and '.join(what)} from {args.dir}: {', '.join(counts)}, {_size(result.bytes_freed)}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    """Print the store's counts."""
    from asr_service.request_log import store_stats

    if not Path(args.dir).is_dir():
        return fail(f"logs stats: {args.dir}: no such directory")
    try:
        stats = store_stats(args.dir)
    except OSError as exc:
        return fail(f"logs stats: {exc}")
    print(f"request log {args.dir}")
    print(f"  days              {stats.partitions}")
    print(f"  oldest / newest   {stats.oldest or '-'} / {stats.newest or '-'}")
    print(f"  rows              {stats.rows}")
    print(f"  clips with audio  {stats.clips_with_audio}")
    print(f"  feedback rows     {stats.feedback_rows}")
    print(f"  bytes             {stats.bytes} ({_size(stats.bytes)})")
    return 0


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _size(n: int) -> str:
    """Bytes for a person: 1234567 -> "1.2 MB"."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            break
    return f"{size:.1f} {unit}"
