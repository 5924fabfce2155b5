"""`asr deploy`: the deployment's admin calls (docs/deployment.md), as an operator makes them.

Every subcommand is one call on the server's HTTP port (`[server] http_port`): `GET /api/deploy` for
`status`, `POST /api/deploy/<action>` with a JSON object for the changes, `GET /api/deploy/report` (and
the WAVs it names) for `report`. `--url` names the port (default: `$ASR_ADMIN_URL`, else
http://127.0.0.1:9464, the port the docs use); an https:// URL speaks TLS, trusting `--tls-ca` (else the
system's CAs), with `--tls-cert`/`--tls-key` for mutual TLS; `ASR_TOKEN` in the environment is sent as
the bearer token (changes and the report need the `admin` scope, `status` the `metrics` scope).

Exit codes: 0 done; 1 the server refused the call (its message on stderr; a refused call changes
nothing); 2 bad usage (a malformed flag, checked before anything is sent); 3 the server could not be
reached (nothing listening, a timeout, a TLS handshake that failed).

`AdminClient` is the same calls for Python code (`asr demo --rollout` drives a rollout with it).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from asr_service.cli._common import add_client_tls_flags, fail
from asr_service.errors import AsrError, ClientError

__all__ = ["DEFAULT_URL", "EXIT_REFUSED", "EXIT_UNREACHABLE", "EXIT_USAGE", "AdminClient", "AdminRefused",
           "AdminUnreachable", "print_status", "register"]

DEFAULT_URL = "http://127.0.0.1:9464"  # the HTTP port README.md and docs/monitoring.md use
URL_ENV = "ASR_ADMIN_URL"
EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
_TIMEOUT_S = 960.0  # the server gives a load 900 s (a large model reads and converts its weights)


class AdminRefused(ClientError):
    """The server answered the admin call with an error (4xx/5xx); nothing changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminUnreachable(ClientError):
    """No answer from the admin URL: nothing listening, a timeout, or a failed TLS handshake."""


class AdminClient:
    """The admin calls of one server's HTTP port (`url`, e.g. "http://127.0.0.1:9464")."""

    def __init__(self, url: str, *, token: str | None = None, tls_ca_file: str | None = None,
                 tls_cert_file: str | None = None, tls_key_file: str | None = None,
                 timeout_s: float = _TIMEOUT_S) -> None:
        """ValueError for a URL that is not http(s)://HOST:PORT, or TLS files with a plain http:// URL."""
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")) or "/" in url.split("://", 1)[1]:
            raise ValueError(f"--url: {url!r} is not http(s)://HOST:PORT (the server's HTTP port)")
        if url.startswith("http://") and (tls_ca_file or tls_cert_file):
            raise ValueError(f"--url {url}: TLS files given for a plain http:// URL; use https://")
        if bool(tls_cert_file) != bool(tls_key_file):
            raise ValueError("--tls-cert and --tls-key go together (mutual TLS)")
        self.url = url
        self._token = token
        self._timeout_s = timeout_s
        self._context: ssl.SSLContext | None = None
        if url.startswith("https://"):
            try:
                self._context = ssl.create_default_context(cafile=tls_ca_file or None)
                if tls_cert_file and tls_key_file:
                    self._context.load_cert_chain(tls_cert_file, tls_key_file)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"TLS files: cannot use them ({exc})") from exc

    def status(self) -> dict[str, Any]:
        """`GET /api/deploy`: the whole deployment state."""
        return self._json("GET", "/api/deploy")

    def call(self, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """`POST /api/deploy/<action>`: {"done": what was done, "state": the new state}; AdminRefused when refused."""
        return self._json("POST", f"/api/deploy/{action}", body or {})

    def report(self) -> dict[str, Any]:
        """`GET /api/deploy/report`: {"shadow": summary or None, "pairs": [...]}."""
        return self._json("GET", "/api/deploy/report")

    def report_audio(self, pair_id: int) -> bytes:
        """The WAV of the report's pair `pair_id` (its "id": stable while the pair stays in the report)."""
        return self._request("GET", f"/api/deploy/report/audio/{pair_id}.wav")

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raw = self._request(method, path, body)
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AdminRefused(200, f"{self.url}{path}: the answer is not JSON; is this the server's HTTP port?"
                               ) from exc
        if not isinstance(data, dict):
            raise AdminRefused(200, f"{self.url}{path}: the answer is not a JSON object")
        return data

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s, context=self._context) as answer:
                content: bytes = answer.read()
                return content
        except urllib.error.HTTPError as exc:
            raise AdminRefused(exc.code, _error_message(exc)) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            why = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
            raise AdminUnreachable(f"{self.url}: cannot reach the server's HTTP port ({why})") from exc
        except TimeoutError as exc:
            raise AdminUnreachable(f"{self.url}: no answer in {self._timeout_s:g} s") from exc
        except (ConnectionError, ssl.SSLError) as exc:
            raise AdminUnreachable(f"{self.url}: the connection failed ({exc})") from exc


def _error_message(exc: urllib.error.HTTPError) -> str:
    """The server's {"error": ...}, or the status line when the answer is not ours."""
    try:
        data = json.loads(exc.read())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return f"{data['error']} (HTTP {exc.code})"
    return f"HTTP {exc.code} {exc.reason}"


# -- the command line ------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `deploy` and its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None, metavar="URL",
                        help=f"the server's HTTP port (default: ${URL_ENV}, else {DEFAULT_URL})")
    common.add_argument("--json", action="store_true", help="print the server's JSON answer, nothing else")
    add_client_tls_flags(common)
    deploy = subparsers.add_parser(
        "deploy", help="the models a server holds and how traffic moves between them (admin calls)",
        description="Admin calls on a running server's HTTP port: load, switch, canary, shadow, promote, "
        "rollback. ASR_TOKEN is sent as the bearer token. Exit codes: 0 done, 1 refused by the server "
        "(nothing changed), 2 bad usage, 3 server unreachable.")
    commands = deploy.add_subparsers(dest="deploy_command", required=True, metavar="ACTION")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        parser.set_defaults(func=run)
        return parser

    add("status", "models, roles, the canary and its guards, the shadow, the last rollback, recent events")
    load = add("load", "load a model beside the others, as standby (warm; nothing routed to it yet)")
    load.add_argument("source", metavar="SOURCE", help="'tiny.en', 'base', or a CTranslate2 Whisper directory "
                      "(on the server's host)")
    load.add_argument("--id", dest="model_id", default="", help="the id to serve it under (default: its own)")
    load.add_argument("--faults", default="", metavar="KEY=VALUE,...",
                      help="inject faults to rehearse a bad rollout: latency_ms, empty_rate, error_rate, seed")
    load.add_argument("--engine", default="", help="the engine that runs it (default: the server's engine.engine; "
                      "'transformers-whisper' for a Hugging Face checkpoint, with the convert extra)")
    add("unload", "release a standby model").add_argument("model_id", metavar="ID")
    add("switch", "blue/green: make ID the primary at once (the old one stays, for rollback)"
        ).add_argument("model_id", metavar="ID")
    canary = add("canary", "ramp ID up on default traffic, guarded; rolled back automatically when worse")
    canary.add_argument("model_id", metavar="ID")
    canary.add_argument("--steps", default=None, metavar="P,P,...", help="percents of default traffic, ending "
                        "at 100 (default: the server's canary_steps)")
    add("promote", "make the running canary the primary now")
    add("rollback", "undo the last change: end the canary, else the previous primary again")
    shadow = add("shadow", "mirror a sample of the primary's clips to ID and compare (never answers clients)")
    shadow.add_argument("model_id", metavar="ID", nargs="?")
    shadow.add_argument("--sample", type=float, default=None, help="share of the primary's clips (0, 1]")
    shadow.add_argument("--stop", action="store_true", help="stop the running shadow")
    report = add("report", "the shadow's figures and the clips where it disagrees most with the primary")
    report.add_argument("-o", "--output", metavar="DIR", help="write DIR/report.html, DIR/report.json and the "
                        "clips' WAVs (default: print the worst pairs)")
    report.add_argument("--top", type=int, default=5, help="pairs printed without -o (default 5)")


def run(args: argparse.Namespace) -> int:
    """One admin call; the exit code says how it went (module docstring)."""
    try:
        body = _body(args)
        client = AdminClient(args.url or os.environ.get(URL_ENV) or DEFAULT_URL, token=os.environ.get("ASR_TOKEN"),
                             tls_ca_file=args.tls_ca, tls_cert_file=args.tls_cert, tls_key_file=args.tls_key)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    command: str = args.deploy_command
    try:
        if command == "status":
            state = client.status()
            if args.json:
                _print_json(state)
            else:
                print_status(state, sys.stdout)
        elif command == "report":
            return _report(client, args)
        else:
            answer = client.call(command, body)
            if args.json:
                _print_json(answer)
            else:
                print(answer.get("done", "done"))
                if command in ("load", "switch", "canary", "promote", "rollback"):
                    print()
                    print_status(answer.get("state", {}), sys.stdout, events=0)
    except AdminUnreachable as exc:
        return fail(str(exc), EXIT_UNREACHABLE)
    except AdminRefused as exc:
        return fail(f"{command}: refused: {exc}", EXIT_REFUSED)
    return 0


def _body(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON body of the call (ValueError, exit 2, for a malformed flag)."""
    command = args.deploy_command
    if command == "load":
        body: dict[str, Any] = {"source": args.source}
        if args.model_id:
            body["model_id"] = args.model_id
        if args.faults:
            body["faults"] = parse_faults(args.faults)
        if args.engine:
            body["engine"] = args.engine
        return body
    if command in ("unload", "switch"):
        return {"model_id": args.model_id}
    if command == "canary":
        body = {"model_id": args.model_id}
        if args.steps is not None:
            try:
                body["steps"] = [float(s) for s in args.steps.split(",")]
            except ValueError:
                raise ValueError(f"--steps: {args.steps!r} is not percents separated by commas (5,25,50,100)"
                                 ) from None
        return body
    if command == "shadow":
        if args.stop == (args.model_id is not None):
            raise ValueError("shadow: name a model (shadow ID [--sample S]) or --stop, not both")
        if args.stop:
            if args.sample is not None:
                raise ValueError("shadow --stop takes no --sample")
            return {"model_id": None}
        body = {"model_id": args.model_id}
        if args.sample is not None:
            body["sample"] = args.sample
        return body
    return {}


def parse_faults(text: str) -> dict[str, float]:
    """{"latency_ms": 400.0, ...} from "latency_ms=400,empty_rate=0.3", checked by the server's own parser
    before anything is sent (ValueError naming what is wrong)."""
    from asr_service.deployment import FaultOptions  # no gRPC, no engine: the parser alone

    try:
        return FaultOptions.parse(text).to_json()
    except AsrError as exc:
        raise ValueError(f"--{exc}") from None


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


# -- the human summary ------------------------------------------------------------------------------------


def _clock(at: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if isinstance(at, int | float) else "-"


def _num(value: Any, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec) if isinstance(value, int | float) else str(value)


def _table(rows: list[list[str]], out: TextIO, indent: str = "") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(),
              file=out)


def print_status(state: dict[str, Any], out: TextIO, *, events: int = 8) -> None:
    """The deployment state for a person: models, the canary and its guards, the shadow, the last
    rollback and the last `events` events."""
    print(f"primary   {state.get('primary') or '-'}   (previous: {state.get('previous') or 'none'})", file=out)
    models = state.get("models") or []
    rows = [["MODEL", "ROLE", "VERSION", "SOURCE", "LOADED", "LOAD", "RSS ADDED", "IN FLIGHT"]]
    for m in models:
        rss = m.get("rss_added_mb")
        rows.append([str(m.get("model_id")), str(m.get("role")), str(m.get("model_version")), str(m.get("source")),
                     _clock(m.get("loaded_at")), f"{_num(m.get('load_s'), '.1f')} s",
                     f"{rss:.0f} MB" if isinstance(rss, int | float) else "-", str(m.get("in_flight", "-"))])
    _table(rows, out)
    print_canary(state.get("canary"), out)
    shadow = state.get("shadow")
    if shadow is None:
        print("shadow    none", file=out)
    else:
        print(f"shadow    {shadow_line(shadow)}", file=out)
    rollback = state.get("last_rollback")
    if rollback is not None:
        print(f"last rollback  {rollback.get('model_id')} at {_num(rollback.get('percent'), 'g')} % after "
              f"{rollback.get('canary_answers')} canary answers, {_clock(rollback.get('at'))}: "
              f"{rollback.get('reason')}", file=out)
    recent = (state.get("events") or [])[-events:] if events else []
    if recent:
        print("recent events", file=out)
        for event in recent:
            print(f"  {_clock(event.get('at'))}  {event.get('action', ''):<14} {event.get('detail', '')}", file=out)


def print_canary(canary: dict[str, Any] | None, out: TextIO) -> None:
    """The canary's step and its guards' readings (or "canary none")."""
    if canary is None:
        print("canary    none", file=out)
        return
    steps = canary.get("steps") or []
    step = int(canary.get("step", 0))
    sides = ", ".join(f"{side} {(canary.get(side) or {}).get('requests', 0)}" for side in ("canary", "primary"))
    print(f"canary    {canary.get('model_id')} at {_num(canary.get('percent'), 'g')} % (step {step + 1} of "
          f"{len(steps)}: {', '.join(_num(s, 'g') for s in steps)} %); this step {canary.get('step_answers')} of "
          f"{canary.get('step_requests')} canary answers, held {_num(canary.get('step_held_s'), '.1f')} s of "
          f"{_num(canary.get('step_s'), 'g')} s; guard windows: {sides}", file=out)
    guards = canary.get("guards") or []
    if not guards:
        print("  guards: not looked at yet", file=out)
        return
    rows = [["GUARD", "CANARY", "PRIMARY", "LIMIT", "N (C/P)", "VERDICT"]]
    for g in guards:
        rows.append([str(g.get("name")), _num(g.get("canary")), _num(g.get("primary")), _num(g.get("limit")),
                     f"{g.get('canary_n')}/{g.get('primary_n')}", str(g.get("verdict")).upper()])
    _table(rows, out, indent="  ")


def shadow_line(s: dict[str, Any]) -> str:
    """The shadow's figures on one line."""
    coverage = s.get("coverage")
    wer = s.get("wer_vs_primary")
    agreement = s.get("null_agreement")
    return (f"{s.get('model_id')} ({s.get('model_version')}) on {_num(s.get('sample'), '.0%')} of the primary's "
            f"clips: {s.get('compared')} compared of {s.get('offered')} offered"
            f"{f' ({coverage:.0%})' if coverage is not None else ''}, {s.get('dropped_busy')} dropped (busy), "
            f"{s.get('failed')} failed; WER vs primary {'-' if wer is None else f'{wer:.1%}'}; null agreement "
            f"{'-' if agreement is None else f'{agreement:.1%}'}; p50/p95 ms shadow {_num(s.get('shadow_p50_ms'))}/"
            f"{_num(s.get('shadow_p95_ms'))}, primary {_num(s.get('primary_p50_ms'))}/"
            f"{_num(s.get('primary_p95_ms'))}; mean confidence shadow {_num(s.get('shadow_mean_confidence'))}, "
            f"primary {_num(s.get('primary_mean_confidence'))}")


# -- the shadow report ---------------------------------------------------------------------------------------


def _report(client: AdminClient, args: argparse.Namespace) -> int:
    if args.output is None:
        report = client.report()
        if args.json:
            _print_json(report)
            return 0
        _print_report(report, args.top, sys.stdout)
        return 0
    report, audio = _fetch_report(client)
    folder = Path(args.output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for index, wav in audio.items():
            (folder / f"clip-{index}.wav").write_bytes(wav)
        (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (folder / "report.html").write_text(report_html(report, {i: f"clip-{i}.wav" for i in audio}),
                                            encoding="utf-8")
    except OSError as exc:
        return fail(f"report: cannot write {folder} ({exc.strerror or exc})", EXIT_REFUSED)
    pairs = len(report.get("pairs") or [])
    print(f"wrote {folder / 'report.html'} ({pairs} pair(s), {len(audio)} with audio) and report.json")
    return 0


def _fetch_report(client: AdminClient) -> tuple[dict[str, Any], dict[int, bytes]]:
    """The report and its pairs' WAVs, by each pair's stable id (a pair pushed out of the report by a worse
    one since the list was read has no WAV any more: it is left without audio)."""
    report = client.report()
    audio: dict[int, bytes] = {}
    for pair in report.get("pairs") or []:
        if pair.get("has_audio"):
            with contextlib.suppress(AdminRefused):
                audio[int(pair["id"])] = client.report_audio(int(pair["id"]))
    return report, audio


def _print_report(report: dict[str, Any], top: int, out: TextIO) -> None:
    shadow = report.get("shadow")
    if shadow is None:
        print("no shadow is running (asr deploy shadow ID)", file=out)
        return
    print(f"shadow  {shadow_line(shadow)}", file=out)
    pairs = report.get("pairs") or []
    if not pairs:
        print("no disagreeing clips kept (clips are kept only with the client's consent to keep results)", file=out)
        return
    print(f"\nthe {min(top, len(pairs))} clips where the shadow disagrees most (of {len(pairs)} kept):", file=out)
    for pair in pairs[:top]:
        print(f"\n#{pair.get('id')} clip {pair.get('clip_id')!r} of request {pair.get('request_id')}: "
              f"{pair.get('word_errors')} word error(s) in {pair.get('reference_words')} "
              f"({_num(pair.get('disagreement'), '.0%')}); ms primary {_num(pair.get('primary_ms'))}, shadow "
              f"{_num(pair.get('shadow_ms'))}; confidence primary {_num(pair.get('primary_confidence'))}, "
              f"shadow {_num(pair.get('shadow_confidence'))}", file=out)
        for label, line in zip(("primary", "shadow ", "       "), pair.get("aligned") or [], strict=False):
            print(f"  {label}  {line}", file=out)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}.pair{border-top:1px solid #ddd;margin-top:1.5em}
.muted{color:#777}"""


def report_html(report: dict[str, Any], audio_files: dict[int, str]) -> str:
    """A self-contained page: the shadow's summary, then each disagreeing clip (both texts, the alignment,
    latencies, confidences, and an <audio> element for the WAV beside the page when there is one)."""
    e = html.escape
    shadow = report.get("shadow")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Shadow report</title>", f"<style>{_CSS}</style></head><body>", "<h1>Shadow report</h1>"]
    if shadow is None:
        parts.append("<p>No shadow was running.</p>")
    else:
        parts.append(f"<p>{e(str(shadow.get('model_id')))} ({e(str(shadow.get('model_version')))}) against the "
                     f"primary {e(str(shadow.get('primary_version')))}, since {e(_clock(shadow.get('started_at')))}."
                     "</p><table>")
        for key, value in shadow.items():
            parts.append(f"<tr><th>{e(str(key))}</th><td>{e(_num(value))}</td></tr>")
        parts.append("</table>")
    pairs = report.get("pairs") or []
    parts.append(f"<h2>Clips where the shadow disagrees most ({len(pairs)})</h2>")
    if not pairs:
        parts.append('<p class="muted">None kept (clips are kept only with the client\'s consent).</p>')
    for pair in pairs:
        index = pair.get("id")
        parts.append(f'<div class="pair"><h3>#{e(str(index))}: clip {e(str(pair.get("clip_id")))} '
                     f'<span class="muted">request {e(str(pair.get("request_id")))}, {e(_clock(pair.get("at")))}'
                     "</span></h3>")
        parts.append("<table><tr><th></th><th>text</th><th>null reason</th><th>inference ms</th>"
                     "<th>confidence</th></tr>")
        for side in ("primary", "shadow"):
            parts.append(f"<tr><th>{side}</th><td>{e(str(pair.get(f'{side}_text') or ''))}</td>"
                         f"<td>{e(str(pair.get(f'{side}_null') or ''))}</td><td>{e(_num(pair.get(f'{side}_ms')))}"
                         f"</td><td>{e(_num(pair.get(f'{side}_confidence')))}</td></tr>")
        parts.append("</table>")
        parts.append(f"<p>{e(str(pair.get('word_errors')))} word error(s) in {e(str(pair.get('reference_words')))}"
                     f" words of the primary's text (disagreement {e(_num(pair.get('disagreement'), '.0%'))}).</p>")
        parts.append(f"<pre>{e(chr(10).join(pair.get('aligned') or []))}</pre>")
        if isinstance(index, int) and index in audio_files:
            parts.append(f'<audio controls preload="none" src="{e(audio_files[index])}"></audio>')
        elif pair.get("has_audio"):
            parts.append('<p class="muted">(audio not fetched)</p>')
        parts.append("</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
