"""What an annotator sees in a real browser: Label Studio's labeling view of a task shows the convention
check and the review above the transcript (headless Chromium, a real Label Studio)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from labeling import (
    LabelStudioSession,
    Linter,
    add_annotator,
    import_clips,
    init_project,
    lint_project,
    load_spec,
    review_task,
)
from tests.browser import WebDriver
from tests.labeling.wavs import write_wav

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]
SPEC = load_spec()


def _page_text(browser: WebDriver, wanted: tuple[str, ...], timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = str(browser.script("return document.body ? document.body.innerText : ''"))
        if all(w in text for w in wanted):
            return text
        time.sleep(0.5)
    raise AssertionError(f"the page never showed {wanted}; it showed:\n{text[:2000]}")


def test_the_annotator_sees_the_check_and_the_review_above_the_transcript(
    ls_session: LabelStudioSession, run_id: str, tmp_path: Path, browser: WebDriver,
) -> None:
    write_wav(tmp_path / "audio" / "order.wav", 1.0)
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"audio": "audio/order.wav", "text": "I paid $25", "confidence": 0.4,
                                    "model_version": "m1"}) + "\n")
    project = init_project(ls_session, SPEC, title=f"browser {run_id}", mode="clip").project_id
    (task_id,) = import_clips(ls_session, project, manifest, canonicaliser=None).task_ids
    password = f"pw-{run_id}-browser-check"
    email = f"browser-{run_id}@example.com"
    annotator = add_annotator(ls_session, email, password)
    with LabelStudioSession.connect(annotator.config(ls_session.config)) as theirs:
        theirs.client.annotations.create(task_id, result=[
            {"from_name": "transcription", "to_name": "audio", "type": "textarea",
             "value": {"text": ["Umm, I paid $25"]}}])
    lint_project(ls_session, project, Linter(SPEC))
    review_task(ls_session, project, task_id, accept=False, note="the amount was twenty six")

    url = ls_session.config.url
    browser.get(f"{url}/user/login/")
    _page_text(browser, ("Log in",), timeout_s=30)
    browser.script(
        f"document.querySelector('input[name=email]').value = {json.dumps(email)};"
        f"document.querySelector('input[name=password]').value = {json.dumps(password)};"
        "document.querySelector('form').submit();")
    time.sleep(1.0)
    browser.get(f"{url}/projects/{project}/data?task={task_id}")
    text = _page_text(browser, ("Check and review", "'Umm' -> 'um'", "the amount was twenty six"))
    assert "Review: sent back, please correct" in text
    assert "'$25' -> 'twenty five dollars'" in text
    (tmp_path / "labeling-view.png").write_bytes(browser.screenshot())
