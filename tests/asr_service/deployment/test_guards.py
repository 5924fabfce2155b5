"""The canary's guards on windows built by hand: chance passes, real harm fails, limits mean what they say."""

from __future__ import annotations

import pytest

from asr_service.deployment import GuardOptions, SideWindow, judge
from asr_service.recognizer import NullReason
from tests.fakes import recognition_result

OPTIONS = GuardOptions(window=300, min_requests=30, z=4.0)


def window(n: int, *, nulls: int = 0, slow: int = 0, errors: int = 0, slow_ms: float = 450.0) -> SideWindow:
    """`n` outcomes: the first `nulls` without text, the next `slow` past the 300 ms budget, then `errors`."""
    side = SideWindow(300)
    for i in range(n - errors):
        side.add_result(recognition_result(null=NullReason.NO_SPEECH if i < nulls else NullReason.NONE,
                                           total_ms=slow_ms if nulls <= i < nulls + slow else 120.0))
    for _ in range(errors):
        side.add_error()
    return side


def verdicts(canary: SideWindow, primary: SideWindow) -> dict[str, str]:
    return {r.name: r.verdict for r in judge(canary, primary, OPTIONS)}


def test_no_verdict_before_both_sides_have_enough() -> None:
    assert set(verdicts(window(29), window(300)).values()) == {"no data"}
    assert set(verdicts(window(30), window(29)).values()) == {"no data"}


def test_the_same_traffic_passes_every_guard() -> None:
    assert set(verdicts(window(60, nulls=1, slow=2), window(300, nulls=6, slow=9)).values()) == {"pass"}


def test_a_rare_event_seen_a_few_times_on_the_canary_is_chance_not_harm() -> None:
    # 3 nulls in 30 against 2 in 270: Fisher's p is 0.008, far from 4 standard errors' 3.2e-5
    reading = {r.name: r for r in judge(window(30, nulls=3), window(270, nulls=2), OPTIONS)}["null_rate"]
    assert reading.verdict == "pass" and reading.limit is not None and reading.limit >= 0.1


def test_a_canary_answering_a_third_of_clips_empty_fails_the_null_rate() -> None:
    got = verdicts(window(30, nulls=10), window(270, nulls=5))
    assert got["null_rate"] == "fail" and got["error_rate"] == "pass"


def test_errors_fail_the_error_rate() -> None:
    assert verdicts(window(40, errors=8), window(300))["error_rate"] == "fail"


def test_over_budget_fails_only_with_the_canary_p95_past_the_budget() -> None:
    assert verdicts(window(40, slow=40), window(300, slow=6))["over_budget"] == "fail"
    # more often over the budget than the primary (4 % against none, beyond chance at a looser z), but its
    # p95 is inside the budget: the budget's own target holds, no rollback
    loose = GuardOptions(window=300, min_requests=30, z=2.0)
    got = {r.name: r.verdict for r in judge(window(300, slow=12), window(300), loose)}
    assert got["over_budget"] == "pass"


@pytest.mark.parametrize("hits", range(0, 31, 5))
def test_the_limit_is_the_worst_share_that_passes(hits: int) -> None:
    reading = {r.name: r for r in judge(window(30, nulls=hits), window(270, nulls=5), OPTIONS)}["null_rate"]
    assert reading.limit is not None
    assert (reading.verdict == "fail") == (hits / 30 > reading.limit)
