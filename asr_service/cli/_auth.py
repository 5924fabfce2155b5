"""`asr auth add-token`: a new bearer token for a client, its hash appended to the token file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from asr_service.cli._common import fail

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `auth add-token`."""
    group = subparsers.add_parser("auth", help="bearer tokens for clients (the server's auth_tokens_file)")
    sub = group.add_subparsers(dest="auth_command", required=True)
    add = sub.add_parser(
        "add-token", help="make a token for a client and append its hash to the token file",
        description="Makes a random token, appends the client's name, the token's SHA-256 and its scopes to "
        "FILE (TOML; the server reads it again when it changes), and prints the token once on stdout: it is "
        "stored nowhere else. Remove the client's [[token]] table to revoke it.")
    add.add_argument("--file", required=True, type=Path, metavar="FILE")
    add.add_argument("--client", required=True, help="a name: a-z, 0-9, '_', '.', '-' (a metrics label)")
    add.add_argument("--scopes", default="recognize", help="comma-separated: recognize, metrics, admin, feedback")
    add.set_defaults(func=run_add_token)


def run_add_token(args: argparse.Namespace) -> int:
    """Append the entry (the file is checked by parsing it again); print the token."""
    from asr_service.auth import TokenFile, hash_token, new_token
    from asr_service.errors import ConfigError

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    token = new_token()
    entry = (f'\n[[token]]\nclient = "{args.client}"\nsha256 = "{hash_token(token)}"\n'
             f"scopes = [{', '.join(repr(s).replace(chr(39), chr(34)) for s in scopes)}]\n")
    before = args.file.read_text(encoding="utf-8") if args.file.exists() else ""
    try:
        args.file.parent.mkdir(parents=True, exist_ok=True)
        args.file.write_text(before + entry, encoding="utf-8")
        os.chmod(args.file, 0o600)
        tokens = TokenFile(str(args.file))  # refuses a bad name or scope: the file is put back
        if list(tokens.clients).count(args.client) > 1:
            raise ConfigError(f"--client: {args.client!r} already has a token in {args.file} (remove it first)")
    except (ConfigError, OSError) as exc:
        if before or args.file.exists():
            args.file.write_text(before, encoding="utf-8")
        return fail(str(exc), 2)
    print(token)
    print(f"asr: token for {args.client} ({', '.join(scopes)}) added to {args.file}; it is shown only now",
          file=sys.stderr)
    return 0
