"""Reading a running server's HTTP side: /metrics samples, JSON endpoints, pages."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "get_json", "http_get", "scrape", "scrape_after_abort", "value"]


def http_get(port: int, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def get_json(port: int, path: str) -> Any:
    status, _, body = http_get(port, path)
    assert status == 200, body
    return json.loads(body)


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    status, content_type, body = http_get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_after_abort(port: int, code: str, timeout_s: float = 5.0) -> Samples:
    """Scrape once the server has counted a call that ended with `code`.

    grpc.aio's abort() sends the status before the handler (and the interceptor around it) finishes,
    so a client can see the error a moment before the server has counted it.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape(port)
        counted = any(name == "asr_grpc_server_handled_total" and ("grpc_code", code) in labels
                      for name, labels in samples)
        if counted or time.monotonic() > deadline:
            return samples
        time.sleep(0.02)


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The one sample of `name` with exactly these labels (model_version=fake-1, role=primary by default)."""
    wanted = {"model_version": "fake-1", "role": "primary", **labels}
    return samples[(name, frozenset(wanted.items()))]
