"""Command line: ``asr conventions ...`` and ``asr label ...``.

``register(subparsers)`` adds both groups to the top-level ``asr`` parser; every leaf sets ``func``, which
returns the exit code: 0 ok, 1 violations of severity error found, 2 bad input or spec, 3 Label Studio
unreachable, key rejected or project unknown.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from labeling._errors import InputError, LabelingError, LabelStudioError

if TYPE_CHECKING:
    from labeling._ls_client import LabelStudioSession
    from labeling._spec import ConventionSpec

# The commands import what they use when they run, so that `asr --help` does not load the Label Studio
# SDK, httpx and the convention machinery.

__all__ = ["register"]

logger = logging.getLogger(__name__)
Handler = Callable[[argparse.Namespace], int]

EXIT_OK, EXIT_VIOLATIONS, EXIT_BAD_INPUT, EXIT_LABEL_STUDIO = 0, 1, 2, 3
WEBHOOK_PORT = 9187


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``conventions`` and ``label`` command groups to ``subparsers``."""
    _register_conventions(subparsers)
    _register_label(subparsers)


def _spec_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", type=Path, default=None,
                        help="convention spec (YAML); default: the spec shipped with the package")


def _register_conventions(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("conventions", help="lint and fix transcripts against the convention spec")
    sub = group.add_subparsers(dest="conventions_command", required=True)
    lint = sub.add_parser("lint", help='JSON lines {"id", "text"} on stdin -> violations per id on stdout')
    _spec_arg(lint)
    lint.set_defaults(func=_guarded(_cmd_conventions_lint))
    fix = sub.add_parser("fix", help='JSON lines {"id", "text"} on stdin -> canonical text per id on stdout')
    _spec_arg(fix)
    fix.set_defaults(func=_guarded(_cmd_conventions_fix))
    guide = sub.add_parser("guidelines", help="print the annotator guidelines generated from the spec")
    _spec_arg(guide)
    guide.add_argument("--html", action="store_true", help="HTML (as shown in Label Studio) instead of Markdown")
    guide.set_defaults(func=_guarded(_cmd_guidelines))


def _register_label(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("label", help="Label Studio: projects, import, lint, export, webhook")
    group.add_argument("--ls-config", type=Path, default=None,
                       help="TOML file with url, api_key, document_root (environment variables win)")
    sub = group.add_subparsers(dest="label_command", required=True)

    init = sub.add_parser("init", help="create a transcription project with the generated guidelines")
    _spec_arg(init)
    init.add_argument("--title", required=True)
    init.add_argument("--mode", choices=("clip", "segments"), default="clip",
                      help="clip: one transcript per clip; segments: regions, one transcript each")
    init.add_argument("--annotations-per-task", type=int, default=1, help="overlap, for agreement")
    init.set_defaults(func=_guarded(_cmd_init))

    imp = sub.add_parser("import", help="import clips (JSON lines) as tasks with the model's pre-annotations")
    _spec_arg(imp)
    imp.add_argument("--project", type=int, required=True)
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("manifest", type=Path, nargs="?", help="an import manifest (asr transcribe-batch writes one)")
    source.add_argument("--from-log", type=Path, default=None, metavar="DIR",
                        help="the server's request log ([request_log] dir): clips logged with audio consent")
    imp.add_argument("--since", default=None, help="with --from-log: clips logged in this last age (7d, 2w, 36h)")
    imp.add_argument("--confidence-below", type=float, default=None,
                     help="with --from-log: only results less confident than this (results without text always)")
    imp.add_argument("--limit", type=int, default=None,
                     help="with --from-log: at most this many, least confident first")
    imp.add_argument("--raw-predictions", action="store_true", help="show the model text as it is, not fixed")
    imp.set_defaults(func=_guarded(_cmd_import))

    purge = sub.add_parser("purge", help="delete every task of a subject (a user who asked to be forgotten)")
    purge.add_argument("--project", type=int, required=True)
    purge.add_argument("--subject", required=True, help="the pseudonymous subject id the client sent")
    purge.set_defaults(func=_guarded(_cmd_purge))

    lint = sub.add_parser("lint", help="lint every annotation, mark each task's meta, report per annotator")
    _spec_arg(lint)
    lint.add_argument("--project", type=int, required=True)
    lint.add_argument("--dry-run", action="store_true", help="do not write task meta")
    lint.add_argument("--json", action="store_true", help="report as JSON")
    lint.set_defaults(func=_guarded(_cmd_lint))

    export = sub.add_parser("export", help="segment-level JSON-lines manifest with canonical text")
    _spec_arg(export)
    export.add_argument("--project", type=int, required=True)
    export.add_argument("--out", type=Path, default=None, help="file (default: stdout)")
    export.add_argument("--all-annotations", action="store_true",
                        help="every annotation of a task, not only the latest")
    export.set_defaults(func=_guarded(_cmd_export))

    review = sub.add_parser("review", help="list what waits for a reviewer; accept an annotation or send it back",
                            description="Without --task: the tasks waiting for a reviewer (annotators disagree "
                            "on what was said, the transcript breaks the convention, or a task sent back came "
                            "back). With --task: --accept [ANNOTATION] takes that annotation (the latest by "
                            "default) as the task's transcript, which is how two annotators' disagreement is "
                            "adjudicated; --send-back returns the task to its annotator with --note and the "
                            "convention findings, shown above the transcript in Label Studio.")
    _spec_arg(review)
    review.add_argument("--project", type=int, required=True)
    review.add_argument("--task", type=int, default=None)
    decision = review.add_mutually_exclusive_group()
    decision.add_argument("--accept", nargs="?", type=int, const=-1, default=None, metavar="ANNOTATION")
    decision.add_argument("--send-back", action="store_true")
    review.add_argument("--note", default="", help="what the annotator should change (with --send-back)")
    review.add_argument("--json", action="store_true")
    review.set_defaults(func=_guarded(_cmd_review))

    hook = sub.add_parser("webhook", help="serve a webhook that lints annotations as they are submitted")
    _spec_arg(hook)
    hook.add_argument("--project", type=int, required=True)
    hook.add_argument("--host", default="127.0.0.1")
    hook.add_argument("--port", type=int, default=WEBHOOK_PORT,
                      help=f"default {WEBHOOK_PORT} (away from Label Studio's 8080 and the 8081-8090 a second "
                           "one usually takes)")
    hook.add_argument("--no-register", action="store_true", help="do not register the webhook with Label Studio")
    hook.set_defaults(func=_guarded(_cmd_webhook))

    agree = sub.add_parser("agreement", help="agreement between annotators and convention consistency")
    _spec_arg(agree)
    agree.add_argument("--project", type=int, required=True)
    agree.add_argument("--out-dir", type=Path, default=None, help="write report.json, report.md, report.html")
    agree.add_argument("--worst", type=int, default=10, help="how many most-disputed tasks to list")
    agree.set_defaults(func=_guarded(_cmd_agreement))

    user = sub.add_parser("add-annotator", help="sign up an annotator (password from ASR_ANNOTATOR_PASSWORD)",
                          description="Sign EMAIL up in the organisation, as a person would through its invite "
                          "link. The annotator then signs in at the printed login_url with EMAIL and the password. "
                          "Their own API token (for scripts, not needed to annotate) is printed with --show-token.")
    user.add_argument("email")
    user.add_argument("--show-token", action="store_true", help="also print the annotator's API token")
    user.set_defaults(func=_guarded(_cmd_add_annotator))


def _guarded(fn: Handler) -> Handler:
    """Turn the package's errors into one line on stderr and an exit code."""
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except LabelStudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_LABEL_STUDIO
        except LabelingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    run.__name__ = fn.__name__
    return run


def _read_items(stream: BinaryIO) -> Iterator[tuple[Any, str]]:
    from asr_service.jsonl import RowProblem, UnreadableFileError, read_lines

    try:
        for entry in read_lines(stream, source="stdin"):
            if isinstance(entry, RowProblem):
                raise InputError(entry.where("stdin"))
            if not isinstance(entry.data.get("text"), str):
                raise InputError(f'stdin:{entry.line}: expected {{"id": ..., "text": "..."}}')
            yield entry.data.get("id"), entry.data["text"]
    except UnreadableFileError as exc:
        raise InputError(str(exc)) from exc


def _cmd_conventions_lint(args: argparse.Namespace) -> int:
    from labeling._lint import Linter
    from labeling._spec import load_spec

    linter = Linter(load_spec(args.spec))
    status = EXIT_OK
    for item_id, text in _read_items(sys.stdin.buffer):
        violations = linter.lint(text)
        errors = sum(v.severity == "error" for v in violations)
        status = EXIT_VIOLATIONS if errors else status
        print(json.dumps({"id": item_id, "errors": errors, "violations": [v.to_dict(text) for v in violations]},
                         ensure_ascii=False), flush=False)
    return status


def _cmd_conventions_fix(args: argparse.Namespace) -> int:
    from labeling._canonical import Canonicaliser
    from labeling._spec import load_spec

    canon = Canonicaliser(load_spec(args.spec))
    for item_id, text in _read_items(sys.stdin.buffer):
        print(json.dumps({"id": item_id, "text": canon.canonicalise(text)}, ensure_ascii=False))
    return EXIT_OK


def _cmd_guidelines(args: argparse.Namespace) -> int:
    from labeling._guidelines import guidelines_html, guidelines_markdown
    from labeling._spec import load_spec

    spec = load_spec(args.spec)
    print(guidelines_html(spec) if args.html else guidelines_markdown(spec))
    return EXIT_OK


def _session(args: argparse.Namespace) -> LabelStudioSession:
    from labeling._ls_client import LabelStudioConfig, LabelStudioSession

    # One session per command, closed when it ends (`with`).
    return LabelStudioSession.connect(LabelStudioConfig.load(args.ls_config))


def _cmd_init(args: argparse.Namespace) -> int:
    from labeling._ls_ops import init_project
    from labeling._spec import load_spec

    spec = load_spec(args.spec)
    with _session(args) as session:
        info = init_project(session, spec, title=args.title, mode=args.mode,
                            annotations_per_task=args.annotations_per_task)
    print(json.dumps({"project": info.project_id, "title": info.title, "mode": info.mode,
                      "convention": info.convention}))
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from labeling._canonical import Canonicaliser
    from labeling._ls_ops import import_clips
    from labeling._spec import load_spec

    spec = load_spec(args.spec)
    if args.from_log is None and (args.since or args.confidence_below is not None or args.limit is not None):
        raise InputError("--since, --confidence-below and --limit select from --from-log; a manifest is imported whole")
    with tempfile.TemporaryDirectory(prefix="asr-review-") as tmp:
        manifest = args.manifest if args.from_log is None else _review_manifest(args, Path(tmp))
        with _session(args) as session:
            result = import_clips(session, args.project, manifest,
                                  canonicaliser=None if args.raw_predictions else Canonicaliser(spec))
    print(json.dumps({"project": args.project, "tasks": len(result.task_ids), "predictions": result.predictions,
                      "skipped_already_there": len(result.skipped), "task_ids": list(result.task_ids),
                      "storages_created": list(result.storages_created)}))
    return EXIT_OK


def _review_manifest(args: argparse.Namespace, folder: Path) -> Path:
    """The logged clips that --since/--confidence-below/--limit pick, as an import manifest in `folder`."""
    from labeling._from_log import LogSelection, log_review_rows, parse_age, write_review_manifest

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit: {args.limit} is not a positive number of clips")
    since = datetime.now(UTC) - parse_age(args.since) if args.since else None
    selection = LogSelection(since=since, confidence_below=args.confidence_below, limit=args.limit)
    return write_review_manifest(log_review_rows(args.from_log, selection), folder / "review.jsonl")


def _cmd_purge(args: argparse.Namespace) -> int:
    from labeling._ls_ops import purge_subject

    with _session(args) as session:
        deleted = purge_subject(session, args.project, args.subject)
    print(json.dumps({"project": args.project, "subject": args.subject, "tasks_deleted": len(deleted),
                      "task_ids": list(deleted)}))
    return EXIT_OK


def _cmd_lint(args: argparse.Namespace) -> int:
    from labeling._lint import Linter
    from labeling._ls_ops import lint_project
    from labeling._spec import load_spec

    with _session(args) as session:
        run = lint_project(session, args.project, Linter(load_spec(args.spec)), write_meta=not args.dry_run)
    rows: list[dict[str, Any]] = [
        {"annotator": s.annotator, "annotations": s.annotations, "errors": s.errors, "warnings": s.warnings,
         "annotations_with_errors": s.annotations_with_errors,
         "violations_per_annotation": round(s.violations_per_annotation, 3),
         "top_rules": dict(s.by_rule.most_common(5)), "failing_tasks": s.failing_tasks}
        for s in run.annotators
    ]
    if args.json:
        print(json.dumps({"tasks": run.tasks, "annotations": run.annotations, "tasks_updated": run.tasks_updated,
                          "annotators": rows}))
    else:
        print(f"{run.tasks} tasks, {run.annotations} annotations, {run.tasks_updated} tasks marked")
        print(f"{'annotator':32} {'annots':>6} {'errors':>6} {'warns':>6} {'per annot':>9}  top rules")
        for r in rows:
            rules = ", ".join(f"{k} {v}" for k, v in r["top_rules"].items())
            print(f"{r['annotator']:32} {r['annotations']:>6} {r['errors']:>6} {r['warnings']:>6} "
                  f"{r['violations_per_annotation']:>9}  {rules}")
        for r in rows:
            if r["failing_tasks"]:
                print(f"{r['annotator']}: tasks with errors: {', '.join(map(str, r['failing_tasks']))}")
    return EXIT_VIOLATIONS if any(s.errors for s in run.annotators) else EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from labeling._ls_ops import export_manifest
    from labeling._spec import load_spec

    spec = load_spec(args.spec)
    with _session(args) as session:
        result = export_manifest(session, args.project, spec, args.out if args.out else sys.stdout,
                                 all_annotations=args.all_annotations)
    print(f"exported {result.lines} segments" + (f" to {args.out}" if args.out else ""), file=sys.stderr)
    for why, tasks in sorted(result.left_out.items()):
        hint = ("annotators disagree on what was said: adjudicate with `asr label review --task T --accept A`"
                if why == "disputed" else "sent back and not corrected yet")
        print(f"left out {len(tasks)} {why} tasks ({hint}): {', '.join(map(str, tasks))}", file=sys.stderr)
    return EXIT_OK


def _cmd_review(args: argparse.Namespace) -> int:
    from labeling._ls_ops import review_task
    from labeling._ls_tasks import fetch_tasks
    from labeling._normalize import Normalizer
    from labeling._review import review_queue
    from labeling._spec import load_spec

    if args.task is None:
        if args.accept is not None or args.send_back:
            raise InputError("--accept and --send-back need --task")
        with _session(args) as session:
            queue = review_queue(list(fetch_tasks(session, args.project)), Normalizer(load_spec(args.spec)))
        if args.json:
            print(json.dumps([{"task": i.task_id, "reason": i.reason, "annotators": list(i.annotators),
                               "texts": list(i.texts)} for i in queue], ensure_ascii=False))
        else:
            print(f"{len(queue)} tasks wait for review")
            for item in queue:
                print(f"task {item.task_id:>6}  {item.reason:11}  " + " | ".join(
                    f"{who}: {text!r}" for who, text in zip(item.annotators, item.texts, strict=True)))
        return EXIT_OK
    if args.accept is None and not args.send_back:
        raise InputError("with --task, say --accept [ANNOTATION] or --send-back")
    with _session(args) as session:
        result = review_task(session, args.project, args.task, accept=args.accept is not None,
                             annotation_id=args.accept if args.accept not in (None, -1) else None, note=args.note)
    if args.json:
        print(json.dumps({"task": result.task_id, "review_status": result.status,
                          "annotation": result.annotation_id, "feedback": result.feedback}, ensure_ascii=False))
    else:
        print(f"task {result.task_id}: {result.status}\n{result.feedback}")
    return EXIT_OK


def _cmd_webhook(args: argparse.Namespace) -> int:
    from labeling._lint import Linter
    from labeling._spec import load_spec
    from labeling._webhook import WebhookConfig, WebhookReceiver, register_webhook

    spec: ConventionSpec = load_spec(args.spec)
    with _session(args) as session:
        session.check_project(args.project)
        # Label Studio sends the secret with every call; without one, anyone who reaches the port could
        # write into the project's tasks. Registered here: a fresh one each start, unless given.
        secret = os.environ.get("ASR_WEBHOOK_SECRET") or ("" if args.no_register else secrets.token_urlsafe(24))
        try:
            receiver = WebhookReceiver(WebhookConfig(host=args.host, port=args.port, secret=secret), Linter(spec),
                                       session)
        except OSError as exc:
            raise InputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
                             "(another program has the port? choose one with --port)") from None
        if not secret:
            print("warning: ASR_WEBHOOK_SECRET is not set: the receiver accepts calls from anyone who reaches it",
                  file=sys.stderr)
        if not args.no_register:
            hook_id = register_webhook(session, args.project, receiver.url, secret=secret)
            print(f"webhook {hook_id} registered for project {args.project}: {receiver.url}", file=sys.stderr)
        print(f"listening on {receiver.url} (Ctrl-C stops)", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            receiver.serve_forever()
    return EXIT_OK


def _cmd_agreement(args: argparse.Namespace) -> int:
    from labeling._agreement import compute_agreement
    from labeling._ls_tasks import fetch_tasks
    from labeling._report import report_html, report_json, report_markdown
    from labeling._spec import load_spec

    spec = load_spec(args.spec)
    with _session(args) as session:
        report = compute_agreement(fetch_tasks(session, args.project), spec)
    if args.out_dir is None:
        print(report_markdown(report, worst_n=args.worst))
        return EXIT_OK
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "report.json").write_text(json.dumps(report_json(report, worst_n=args.worst), indent=2) + "\n")
    (args.out_dir / "report.md").write_text(report_markdown(report, worst_n=args.worst))
    (args.out_dir / "report.html").write_text(report_html(report, worst_n=args.worst))
    print(f"wrote report.json, report.md, report.html to {args.out_dir}", file=sys.stderr)
    return EXIT_OK


def _cmd_add_annotator(args: argparse.Namespace) -> int:
    from labeling._ls_users import add_annotator

    password = os.environ.get("ASR_ANNOTATOR_PASSWORD")
    if not password:
        raise InputError("set ASR_ANNOTATOR_PASSWORD to the new annotator's password")
    with _session(args) as session:
        annotator = add_annotator(session, args.email, password)
        login_url = session.config.url.rstrip("/") + "/user/login/"
    shown = {"user_id": annotator.user_id, "email": annotator.email, "login_url": login_url}
    print(json.dumps({**shown, "api_key": annotator.api_key} if args.show_token else shown))
    return EXIT_OK
