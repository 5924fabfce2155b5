"""Webhook receiver: lints each created or updated annotation and marks its task.

Label Studio sends ``ANNOTATION_CREATED``/``ANNOTATION_UPDATED`` synchronously, inside the annotator's
submit, and gives up after 1 s. The receiver lints inline (microseconds), answers at once with the result,
and writes the task meta from one background worker (one at a time, so two annotations of a task never
overwrite each other's result).
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from labeling._errors import LabelStudioError
from labeling._lint import Linter
from labeling._ls_client import LabelStudioSession
from labeling._ls_tasks import META_KEY, annotation_record, fetch_users, lint_annotation, merge_lint_meta
from labeling._review import after_resubmission, feedback_fields

__all__ = ["SECRET_HEADER", "WEBHOOK_ACTIONS", "WebhookConfig", "WebhookReceiver", "register_webhook"]

logger = logging.getLogger(__name__)

WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
#: The header that carries the shared secret; Label Studio sends it with every call of the webhook.
SECRET_HEADER = "X-Asr-Webhook-Secret"
_MAX_BODY_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class WebhookConfig:
    """Where the receiver listens; port 0 picks a free one."""

    host: str = "127.0.0.1"
    port: int = 0
    drain_timeout_s: float = 10.0
    # Calls without this value in SECRET_HEADER are refused (401); "" accepts any caller.
    secret: str = field(default="", repr=False)
    read_timeout_s: float = 10.0  # a body shorter than its Content-Length frees its thread after this


class WebhookReceiver:
    """An HTTP server that lints annotations posted by Label Studio webhooks."""

    def __init__(self, config: WebhookConfig, linter: Linter, session: LabelStudioSession | None) -> None:
        self.config = config
        self.linter = linter
        self.session = session
        self._users: dict[int, str] = {}
        self._jobs: queue.Queue[tuple[int, int, dict[str, Any]] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._write_loop, name="webhook-meta-writer", daemon=True)
        self._server = ThreadingHTTPServer((config.host, config.port), self._handler_class())
        self._server.daemon_threads = True
        self.writes_done = 0
        self.write_errors = 0

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The URL to register with Label Studio."""
        return f"http://{self.config.host}:{self.port}/"

    def start(self) -> None:
        """Serve in background threads."""
        self._worker.start()
        threading.Thread(target=self._server.serve_forever, name="webhook-http", daemon=True).start()
        logger.info("webhook receiver listening on %s", self.url)

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted, then shut down in order."""
        self._worker.start()
        try:
            self._server.serve_forever()
        finally:
            self._drain()

    def stop(self) -> None:
        """Stop accepting, let queued meta writes finish (bounded), close."""
        self._server.shutdown()
        self._drain()

    def _drain(self) -> None:
        self._jobs.put(None)
        self._worker.join(self.config.drain_timeout_s)
        if self._worker.is_alive():
            logger.warning("webhook receiver stopped with %d meta writes pending", self._jobs.qsize())
        self._server.server_close()

    def handle_payload(self, payload: dict[str, Any]) -> tuple[HTTPStatus, dict[str, Any]]:
        """Lint the annotation in one webhook payload; queue the meta write. Returns status and body."""
        action = payload.get("action")
        if action not in WEBHOOK_ACTIONS:
            return HTTPStatus.OK, {"ignored": action}
        annotation, task = payload.get("annotation"), payload.get("task")
        if not isinstance(annotation, dict) or "id" not in annotation or not isinstance(task, dict):
            return HTTPStatus.BAD_REQUEST, {"error": "payload has no annotation or task"}
        task_id = int(task.get("id") or annotation.get("task") or 0)
        if annotation.get("was_cancelled"):
            return HTTPStatus.OK, {"ignored": "cancelled annotation"}
        record = annotation_record(task_id, annotation, task.get("data") or {}, self._users)
        result = lint_annotation(self.linter, record)
        if self.session is not None and task_id:
            self._jobs.put((task_id, record.annotation_id, result))
        return HTTPStatus.OK, {"task": task_id, "annotation": record.annotation_id, "errors": result["errors"],
                               "warnings": result["warnings"]}

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            task_id, annotation_id, result = job
            try:
                self._write_meta(task_id, annotation_id, result)
                self.writes_done += 1
            except LabelStudioError as exc:
                self.write_errors += 1
                logger.error("could not mark task %d: %s", task_id, exc)

    def _write_meta(self, task_id: int, annotation_id: int, result: dict[str, Any]) -> None:
        assert self.session is not None
        session = self.session
        if result["annotator"].startswith("user-"):
            self._users.update(fetch_users(session))
            result = {**result, "annotator": self._users.get(int(result["annotator"][5:]), result["annotator"])}
        task = session.call(f"read task {task_id}", session.client.tasks.get, str(task_id))
        current = getattr(task, "meta", None) or {}
        meta = merge_lint_meta(current, self.linter.spec.label, {annotation_id: result}, replace_all=False)
        data = dict(getattr(task, "data", None) or {})
        # where annotators and reviewers see it: task data (the config shows $feedback; Data Manager columns)
        fields = feedback_fields(data, meta[META_KEY], review=after_resubmission(data))
        session.call(f"write the lint result of task {task_id}", session.client.tasks.update,
                     str(task_id), meta=meta, data={**data, **fields})
        logger.info("task %d annotation %d: %d errors, %d warnings", task_id, annotation_id,
                    result["errors"], result["warnings"])

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "asr-labeling-webhook/1"
            timeout = receiver.config.read_timeout_s

            def do_POST(self) -> None:
                if receiver.config.secret and not hmac.compare_digest(
                        self.headers.get(SECRET_HEADER, "").encode(), receiver.config.secret.encode()):
                    self._answer(HTTPStatus.UNAUTHORIZED, {"error": f"missing or wrong {SECRET_HEADER} header"})
                    return
                declared = self.headers.get("Content-Length") or "0"
                if not declared.isdigit():  # "-1" would read to the end of the stream, past the cap
                    self._answer(HTTPStatus.BAD_REQUEST, {"error": "Content-Length must be a whole number"})
                    return
                length = int(declared)
                if length > _MAX_BODY_BYTES:
                    self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "payload too large"})
                    return
                try:
                    body = self.rfile.read(length)
                except (TimeoutError, ConnectionError):
                    self.close_connection = True
                    return
                if len(body) < length:
                    self._answer(HTTPStatus.BAD_REQUEST, {"error": "body shorter than its Content-Length"})
                    return
                try:
                    payload = json.loads(body or b"{}")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    self._answer(HTTPStatus.BAD_REQUEST, {"error": "body is not JSON"})
                    return
                if not isinstance(payload, dict):
                    self._answer(HTTPStatus.BAD_REQUEST, {"error": "body is not a JSON object"})
                    return
                try:
                    status, answer = receiver.handle_payload(payload)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a payload of the wrong shape
                    status, answer = HTTPStatus.BAD_REQUEST, {"error": f"unexpected payload: {type(exc).__name__}"}
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._answer(HTTPStatus.OK, {"status": "ok", "convention": receiver.linter.spec.label})

            def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("webhook %s - %s", self.address_string(), format % args)

        return Handler


def register_webhook(session: LabelStudioSession, project_id: int, url: str, *, secret: str = "") -> int:
    """Register ``url`` for annotation events of the project (reusing an identical one, with ``secret``
    in `SECRET_HEADER`); returns its id."""
    session.check_project(project_id)
    hooks = session.client.webhooks
    headers = {SECRET_HEADER: secret} if secret else {}
    for hook in session.call("list webhooks", hooks.list, project=str(project_id)):
        if hook.url == url and hook.project == project_id and hook.is_active:
            if (hook.headers or {}) != headers:  # a restarted receiver has a new secret
                session.call(f"update webhook {url}", hooks.update, int(hook.id), url=url, headers=headers)
            return int(hook.id)
    hook = session.call(
        f"register webhook {url} for project {project_id}", hooks.create,
        url=url, project=project_id, actions=list(WEBHOOK_ACTIONS), send_payload=True,
        send_for_all_actions=False, is_active=True, headers=headers,
    )
    return int(hook.id)
