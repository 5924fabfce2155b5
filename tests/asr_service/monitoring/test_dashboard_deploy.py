"""The dashboard's Deployment card in headless Chromium, over a real server driven through the admin API
and real gRPC traffic: two models and their roles, a canary with its guards, a shadow's figures, an
automatic rollback of a faulty canary, operator text shown as text, and a failing /api/deploy that
leaves the charts alone.

Fake engines stand in for models: each source is a model of its own ("whisper-<source>", version
"<source>-1", letters and digits of the source only), so a second model loads in milliseconds.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asr_service.client import AsrClient
from asr_service.config import DeploymentOptions, MonitoringOptions, ServerConfig
from asr_service.engines import EngineInfo, EngineOptions
from asr_service.server import BackgroundServer
from tests.asr_service.monitoring.probes import get_json
from tests.browser import WebDriver
from tests.fakes import FakeEngine, tone_clips

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOURCE = "b<b>x"  # an operator's free text (a load source) with markup in it: shown as typed, never as HTML
TEXTS = {SOURCE: "turn right at the lights"}  # the primary says "turn left at the lights": WER 1/5
STEPS = [50, 100]
CARD = """
const c = document.getElementById('deploy-card');
const rows = sel => Object.fromEntries([...c.querySelectorAll(sel + ' tr[data-figure]')].map(r =>
  [r.getAttribute('data-figure'), [...r.querySelectorAll('td')].map(t => t.textContent)]));
const rollback = c.querySelector('#deploy-rollback');
const report = c.querySelector('#deploy-shadow a');
return {
  state: c.getAttribute('data-state'), error: c.getAttribute('data-error'), polls: Number(c.getAttribute('data-polls')),
  primary: c.getAttribute('data-primary'), canary: c.getAttribute('data-canary'),
  percent: c.getAttribute('data-canary-percent'), step: c.getAttribute('data-canary-step'),
  shadow: c.getAttribute('data-shadow'), rollback: c.getAttribute('data-rollback'),
  note: document.getElementById('deploy-note').textContent,
  models: [...c.querySelectorAll('tr[data-role]')].map(r => ({id: r.getAttribute('data-model'),
    role: r.getAttribute('data-role'), weight: getComputedStyle(r.cells[0]).fontWeight,
    badge: getComputedStyle(r.querySelector('.role')).backgroundColor,
    source: r.querySelector('[data-field=source]').textContent,
    faults: r.querySelector('[data-field=faults]').textContent})),
  guards: Object.fromEntries([...c.querySelectorAll('tr[data-guard]')].map(r =>
    [r.getAttribute('data-guard'), [r.getAttribute('data-verdict'), r.cells[1].textContent, r.cells[4].textContent]])),
  compare: rows('#deploy-canary'), shadowRows: rows('#deploy-shadow'),
  progress: [...c.querySelectorAll('[data-progress]')].map(p => p.textContent),
  rollbackText: rollback ? rollback.textContent : '', rollbackColor: rollback ? getComputedStyle(rollback).color : '',
  report: report ? report.getAttribute('href') : null,
  events: [...c.querySelectorAll('tr[data-action]')].map(r => r.textContent),
  markup: c.querySelectorAll('b, i').length, text: c.innerText,
  charts: document.body.getAttribute('data-updated'), chartsError: document.body.getAttribute('data-error'),
};
"""


class Model(FakeEngine):
    """A fake model named by its source."""

    def __init__(self, source: str) -> None:
        super().__init__(text=TEXTS.get(source, "turn left at the lights"), confidence=0.8)
        self.slug = re.sub(r"[^A-Za-z0-9]", "", source)

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_id=f"whisper-{self.slug}", model_version=f"{self.slug}-1", engine="test",
                          config_hash="0")


@pytest.fixture()
def server() -> Iterator[BackgroundServer]:
    config = ServerConfig(
        port=0, http_port=0, shutdown_notice_s=0.0, engine=EngineOptions(model="a", num_workers=2, cpu_threads=1),
        monitoring=MonitoringOptions(interval_s=600.0),
        deployment=DeploymentOptions(canary_steps=(50.0, 100.0), canary_step_requests=10_000, canary_step_s=0.0,
                                     guard_window=20, guard_min_requests=10))
    running = BackgroundServer(config, engine_factory=lambda options: Model(options.model)).start()
    try:
        yield running
    finally:
        running.stop(0.5)


def admin(port: int, action: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/deploy/{action}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        answer: dict[str, Any] = json.loads(reply.read())
    return answer["state"]


def send(target: str, clients: range) -> None:
    """One tone clip from each client (its own x-client-id: its own side of a canary split)."""
    clip = tone_clips(1)[0]
    for i in clients:
        with AsrClient(target, client_id=f"user-{i}") as client:
            assert client.recognize_clip(clip).model_id.startswith("whisper-")


def until(read: Callable[[], dict[str, Any]], check: Callable[[dict[str, Any]], bool],
          timeout_s: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        state = read()
        if check(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def test_the_deployment_card_follows_a_rollout(server: BackgroundServer, browser: WebDriver) -> None:
    port = server.server.monitor.http_port
    assert port is not None
    deploy: Callable[[], dict[str, Any]] = lambda: get_json(port, "/api/deploy")  # noqa: E731
    card: Callable[[], dict[str, Any]] = lambda: browser.script(CARD)  # noqa: E731
    browser.get(f"http://127.0.0.1:{port}/?refresh_ms=300&span_s=60&step_s=1")

    seen = until(card, lambda s: s["state"] == "ok")
    assert seen["primary"] == "whisper-a" and [m["role"] for m in seen["models"]] == ["primary"], seen

    # a second model, loaded from a source with markup in its name: standby, the source shown as typed
    admin(port, "load", {"source": SOURCE})
    seen = until(card, lambda s: len(s["models"]) == 2)
    a, b = seen["models"]
    assert (a["id"], a["role"], b["id"], b["role"]) == ("whisper-a", "primary", "whisper-bbx", "standby"), seen
    assert a["weight"] == "700" and b["weight"] == "400" and a["badge"] != b["badge"]
    assert b["source"] == SOURCE and b["faults"] == "" and seen["markup"] == 0
    assert any(e.startswith(tuple("0123456789")) and "load" in e and "'b<b>x'" in e for e in seen["events"])

    # a healthy canary at 50 %: traffic from distinct clients until every guard has a verdict
    admin(port, "canary", {"model_id": "whisper-bbx", "steps": STEPS})
    first = 0
    state = deploy()
    while any(g["verdict"] == "no data" for g in state["canary"]["guards"]) or not state["canary"]["guards"]:
        assert first < 200, state["canary"]
        send(server.target, range(first, first + 10))
        first += 10
        state = deploy()
    canary = state["canary"]
    assert all(g["verdict"] == "pass" for g in canary["guards"]), canary["guards"]
    seen = until(card, lambda s: s["canary"] == "whisper-bbx" and s["compare"].get("requests") == [
        str(canary["canary"]["requests"]), str(canary["primary"]["requests"])])
    assert (seen["percent"], seen["step"]) == ("50", "1/2"), seen
    assert {m["id"]: m["role"] for m in seen["models"]} == {"whisper-a": "primary", "whisper-bbx": "canary"}
    assert seen["compare"]["requests"] == [str(canary["canary"]["requests"]), str(canary["primary"]["requests"])]
    assert seen["compare"]["errors"] == ["0 (0 %)", "0 (0 %)"]
    assert seen["compare"]["mean_confidence"][0] == f"0.80 ± 0.00 ({canary['canary']['texts']} with text)"
    assert all(re.fullmatch(r"[0-9.]+ ms / 300 ms", cell) for cell in seen["compare"]["p95"]), seen["compare"]
    assert seen["compare"]["null_rate"][0] == f"0 % (0/{canary['canary']['judged']})"
    assert f"{canary['step_answers']} / 10000" in seen["progress"][0]
    assert set(seen["guards"]) == {"error_rate", "null_rate", "over_budget", "mean_confidence"}
    assert all(v[0] == v[1] == "pass" for v in seen["guards"].values()), seen["guards"]
    assert seen["guards"]["null_rate"][2].startswith("fails above ") and seen["guards"]["null_rate"][2].endswith("%")
    assert seen["guards"]["mean_confidence"][2] == "fails below 0.78"
    assert "at 50 % of default traffic" in seen["text"] and "step 1 of 2" in seen["text"]

    # the operator ends it; the same model shadows the primary
    admin(port, "rollback", {})
    admin(port, "shadow", {"model_id": "whisper-bbx"})
    with AsrClient(server.target) as client:
        for clip in tone_clips(12):
            client.recognize_clip(clip)
            time.sleep(0.02)  # the shadow takes a clip only while it is idle
    shadow = until(deploy, lambda s: s["shadow"]["compared"] >= 5)["shadow"]
    assert shadow["wer_vs_primary"] == pytest.approx(0.2)
    seen = until(card, lambda s: s["shadow"] == "whisper-bbx" and s["shadowRows"].get("coverage", [""])[0]
                 .startswith(f"{shadow['compared']} / {shadow['offered']} compared"))
    rows = seen["shadowRows"]
    assert rows["coverage"][0].startswith(f"{shadow['compared']} / {shadow['offered']} compared"), rows
    assert f"{shadow['dropped_busy']} dropped" in rows["coverage"][0]
    assert rows["wer"] == ["20 %"] and rows["null_agreement"][0].startswith("100 %")
    assert all(cell.endswith(" ms") for key in ("p50", "p95") for cell in rows[key]), rows
    assert rows["mean_confidence"] == ["0.80", "0.80"]
    assert seen["report"] == "/api/deploy/report" and seen["canary"] == "" and seen["rollback"] == ""
    assert {m["id"]: m["role"] for m in seen["models"]} == {"whisper-a": "primary", "whisper-bbx": "shadow"}

    # a faulty canary (90 % empty answers): rolled back automatically, and the card says so in red
    admin(port, "load", {"source": "c", "faults": {"empty_rate": 0.9}})
    admin(port, "canary", {"model_id": "whisper-c", "steps": STEPS})
    while deploy()["last_rollback"] is None:
        assert first < 600, deploy()["canary"]
        send(server.target, range(first, first + 10))
        first += 10
    rollback = deploy()["last_rollback"]
    assert rollback["model_id"] == "whisper-c" and "null_rate" in rollback["guards"]
    seen = until(card, lambda s: s["rollback"] == "whisper-c")
    assert seen["rollbackColor"] == "rgb(187, 0, 0)" and seen["canary"] == ""
    text = seen["rollbackText"]
    assert "canary whisper-c (c-1+faults-empty0.9) rolled back at 50 % after" in text
    assert f"after {rollback['canary_answers']} canary answers" in text and rollback["reason"] in text
    assert {m["id"]: (m["role"], m["faults"]) for m in seen["models"]}["whisper-c"] == ("standby", "empty_rate=0.9")
    assert any("rollback" in e and "null_rate guard failed" in e for e in seen["events"]), seen["events"]
    events = deploy()["events"]
    assert len(seen["events"]) == min(10, len(events)) and "rollback" in seen["events"][0]  # the newest first
    assert seen["markup"] == 0 and not seen["chartsError"]

    # a starting server, then a failing /api/deploy: the card says so; the charts go on
    browser.script("window.realFetch = window.fetch; window.fetch = (u, o) => String(u).startsWith('/api/deploy') ? "
                   "Promise.resolve(new Response('{\"enabled\": false}')) : window.realFetch(u, o);")
    seen = until(card, lambda s: s["state"] == "starting")
    assert "the server is starting" in seen["note"] and seen["models"] == [] and seen["primary"] == ""
    browser.script("window.fetch = (u, o) => String(u).startsWith('/api/deploy') ? "
                   "Promise.reject(new TypeError('network down')) : window.realFetch(u, o);")
    seen = until(card, lambda s: s["state"] == "error")
    assert seen["note"].startswith("cannot read the deployment state (/api/deploy): TypeError: network down"), seen
    charts = seen["charts"]
    seen = until(card, lambda s: s["charts"] != charts)
    assert seen["charts"] != charts and not seen["chartsError"] and seen["state"] == "error"
