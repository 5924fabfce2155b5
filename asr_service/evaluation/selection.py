"""Which utterances an evaluation scores (a recording-date window) and how it slices them.

Date window: ``--since 90d`` keeps rows recorded in the last 90 days before "now" (a `Clock`, injectable
for tests); ``--from D --to D`` keeps rows recorded from D to D inclusive (a bare date as ``--to`` means
the whole of that day). Rows without ``recorded_at`` are excluded by any date filter and counted as
such; an empty selection is a `SelectionError` that says how many rows each rule excluded.

Slices: every field of a row other than ``audio``/``text``/``duration``/``recorded_at``/``utt_id`` is a
slice key; a list value puts the row in one slice per element; a row without the field (or with an
empty list) is in the ``(none)`` slice. The derived key ``recorded_month`` (``YYYY-MM`` of
``recorded_at``) slices by time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from asr_service.evaluation.errors import SelectionError
from asr_service.evaluation.manifest import Utterance, parse_timestamp

__all__ = [
    "DERIVED_KEYS",
    "NO_VALUE",
    "Clock",
    "DateWindow",
    "Selection",
    "check_slice_keys",
    "parse_since",
    "select",
    "slice_values",
    "utc_now",
]

Clock = Callable[[], datetime]
"""Returns "now" as an aware datetime; injected so tests fix the date."""

NO_VALUE = "(none)"
DERIVED_KEYS = frozenset({"recorded_month", "recorded_week"})

_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNIT_S = {"h": 3600, "d": 86_400, "w": 7 * 86_400}


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def parse_since(value: str) -> timedelta:
    """'90d', '12w' or '36h' as a timedelta."""
    match = _SINCE.match(value)
    if not match or int(match.group(1)) <= 0:
        raise SelectionError(f"--since: {value!r} is not a positive age like 90d, 12w or 36h")
    return timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])


@dataclass(frozen=True, kw_only=True)
class DateWindow:
    """Recording dates kept: ``start <= recorded_at < end``; None is open on that side."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def from_options(
        cls, *, since: str | None = None, date_from: str | None = None, date_to: str | None = None,
        clock: Clock = utc_now,
    ) -> DateWindow | None:
        """The window the CLI flags ask for, or None when no date filter is given."""
        if since and (date_from or date_to):
            raise SelectionError("--since cannot be combined with --from/--to")
        if since:
            now = clock()
            return cls(start=now - parse_since(since), end=None)
        if not (date_from or date_to):
            return None
        try:
            start = parse_timestamp(date_from, what="--from") if date_from else None
            end = parse_timestamp(date_to, what="--to") if date_to else None
        except ValueError as exc:
            raise SelectionError(str(exc)) from None
        if end is not None and date_to is not None and len(date_to.strip()) == 10:
            end += timedelta(days=1)  # a bare date is the whole day
        elif end is not None:
            end += timedelta(microseconds=1)  # inclusive
        if start is not None and end is not None and start >= end:
            raise SelectionError(f"--from {date_from} is after --to {date_to}")
        return cls(start=start, end=end)

    def contains(self, moment: datetime) -> bool:
        """True when `moment` is inside the window."""
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)

    def describe(self) -> str:
        """For messages and reports."""
        start = self.start.isoformat() if self.start else "the beginning"
        end = self.end.isoformat() if self.end else "now"
        return f"recorded from {start} to {end}"

    def to_json(self) -> dict[str, str | None]:
        """As written in results.json."""
        return {"start": self.start.isoformat() if self.start else None,
                "end_exclusive": self.end.isoformat() if self.end else None}


@dataclass(frozen=True, kw_only=True)
class Selection:
    """The utterances kept, and the lines of those a date filter excluded."""

    utterances: tuple[Utterance, ...]
    window: DateWindow | None
    no_recorded_at: tuple[int, ...] = ()  # manifest lines without recorded_at (excluded by the filter)
    outside_window: tuple[int, ...] = ()  # manifest lines recorded outside the window
    beyond_limit: int = 0  # utterances left out by a row limit (a quick look at a subset)
    limit: int | None = None  # the row limit asked for (None: all rows)

    def limited(self, limit: int | None) -> Selection:
        """The first `limit` utterances (all when None), the rest counted as `beyond_limit`."""
        if limit is None:
            return self
        if limit < 1:
            raise SelectionError(f"--limit: {limit} is not a positive number of utterances")
        return replace(self, utterances=self.utterances[:limit], limit=limit,
                       beyond_limit=self.beyond_limit + max(0, len(self.utterances) - limit))

    def to_json(self) -> dict[str, Any]:
        """As written in results.json."""
        return {
            "window": self.window.to_json() if self.window else None,
            "limit": self.limit,
            "selected": len(self.utterances),
            "excluded_no_recorded_at": len(self.no_recorded_at),
            "excluded_outside_window": len(self.outside_window),
            "excluded_beyond_limit": self.beyond_limit,
            "no_recorded_at_lines": list(self.no_recorded_at),
        }


def select(utterances: Sequence[Utterance], window: DateWindow | None) -> Selection:
    """Keep the utterances inside `window` (all of them when it is None); empty is a `SelectionError`."""
    if window is None:
        if not utterances:
            raise SelectionError("nothing to evaluate: the manifest has no usable row")
        return Selection(utterances=tuple(utterances), window=None)
    kept: list[Utterance] = []
    undated: list[int] = []
    outside: list[int] = []
    for utt in utterances:
        if utt.recorded_at is None:
            undated.append(utt.line)
        elif window.contains(utt.recorded_at):
            kept.append(utt)
        else:
            outside.append(utt.line)
    if not kept:
        raise SelectionError(
            f"empty selection: no utterance {window.describe()} "
            f"({len(outside)} recorded outside the window, {len(undated)} without recorded_at, "
            f"{len(utterances)} usable rows in all)"
        )
    return Selection(utterances=tuple(kept), window=window, no_recorded_at=tuple(undated),
                     outside_window=tuple(outside))


def slice_values(utt: Utterance, key: str) -> list[str]:
    """The slices of `key` that `utt` belongs to (several for a list field)."""
    if key == "recorded_month" and key not in utt.fields:
        return [utt.recorded_at.strftime("%Y-%m")] if utt.recorded_at else [NO_VALUE]
    if key == "recorded_week" and key not in utt.fields:  # ISO week, e.g. 2026-W49: "how did last week go"
        return [utt.recorded_at.strftime("%G-W%V")] if utt.recorded_at else [NO_VALUE]
    value = utt.fields.get(key)
    if value is None:
        return [NO_VALUE]
    if isinstance(value, list | tuple):
        values = sorted({_as_text(v) for v in value if v is not None})
        return values or [NO_VALUE]
    return [_as_text(value)]


def check_slice_keys(utterances: Iterable[Utterance], keys: Sequence[str]) -> None:
    """A key that no row has is a typo: `SelectionError` naming the keys that exist."""
    present: set[str] = set(DERIVED_KEYS)
    for utt in utterances:
        present.update(utt.fields)
    unknown = [k for k in keys if k not in present]
    if unknown:
        raise SelectionError(f"--by: no row has the field(s) {unknown} (fields present: {', '.join(sorted(present))})")


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
