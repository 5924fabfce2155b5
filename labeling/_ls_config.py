"""Label Studio labeling configs for audio transcription, and reading transcripts out of results.

Two variants: ``clip`` (one transcript per clip) and ``segments`` (regions on the audio, one transcript per
region). Both name the audio ``audio`` and the transcript ``transcription``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

__all__ = [
    "FROM_NAME",
    "TO_NAME",
    "Mode",
    "Segment",
    "label_config",
    "prediction_result",
    "segments_of",
]

Mode = Literal["clip", "segments"]
FROM_NAME = "transcription"
TO_NAME = "audio"
REGION_LABELS = "segment"
FEEDBACK_NAME = "feedback"


def label_config(mode: Mode, convention_label: str) -> str:
    """The XML labeling config for ``mode``."""
    header = quoteattr(f"Transcribe what is said, following convention {convention_label} (see the guidelines)")
    # the convention check and the review, written into task data when a transcript is submitted
    feedback = ('  <Header value="Check and review (updated after you submit)" size="6"/>\n'
                f'  <Text name="{FEEDBACK_NAME}" value="$feedback"/>\n')
    if mode == "clip":
        return (
            "<View>\n"
            f"  <Header value={header}/>\n"
            f'  <Audio name="{TO_NAME}" value="$audio" hotkey="ctrl+space"/>\n'
            f'  <TextArea name="{FROM_NAME}" toName="{TO_NAME}" rows="4" editable="true" maxSubmissions="1"'
            ' transcription="true" placeholder="transcript"/>\n'
            f"{feedback}"
            "</View>\n"
        )
    return (
        "<View>\n"
        f"  <Header value={header}/>\n"
        f'  <Labels name="{REGION_LABELS}" toName="{TO_NAME}">\n'
        '    <Label value="speech" background="#3b82f6"/>\n'
        "  </Labels>\n"
        f'  <Audio name="{TO_NAME}" value="$audio" hotkey="ctrl+space"/>\n'
        f'  <TextArea name="{FROM_NAME}" toName="{TO_NAME}" perRegion="true" rows="2" editable="true"'
        ' maxSubmissions="1" required="true" placeholder="transcript of the selected region"/>\n'
        f"{feedback}"
        "</View>\n"
    )


@dataclass(frozen=True, kw_only=True)
class Segment:
    """One transcribed stretch of an audio file; ``end_s`` is None when the clip's end is unknown."""

    start_s: float
    end_s: float | None
    text: str
    region_id: str | None = None


def prediction_result(
    mode: Mode, text: str, *, start_s: float | None, end_s: float | None,
    regions: Sequence[tuple[float, float, str]] = (),
) -> list[dict[str, Any]]:
    """The ``result`` list of a pre-annotation holding ``text``.

    In a segments project: one region per item of ``regions`` (start, end, text) when there are any,
    else one region from ``start_s`` to ``end_s`` (none when the end is unknown)."""
    if mode == "clip":
        return [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "textarea", "value": {"text": [text]}}]
    if not regions:
        if end_s is None:
            return []
        regions = [(start_s or 0.0, end_s, text)]
    result: list[dict[str, Any]] = []
    for index, (start, end, words) in enumerate(regions):
        value = {"start": start, "end": end, "channel": 0}
        rid = f"model{index}"
        result += [
            {"id": rid, "from_name": REGION_LABELS, "to_name": TO_NAME, "type": "labels",
             "value": {**value, "labels": ["speech"]}},
            {"id": rid, "from_name": FROM_NAME, "to_name": TO_NAME, "type": "textarea",
             "value": {**value, "text": [words]}},
        ]
    return result


def segments_of(result: Sequence[Mapping[str, Any]], data: Mapping[str, Any]) -> list[Segment]:
    """The transcribed segments in an annotation's ``result``, ordered by start.

    A textarea without region times covers the clip as described by the task data (``start_s``/``end_s``).
    """
    segments: list[Segment] = []
    for item in result:
        if item.get("type") != "textarea" or item.get("from_name") != FROM_NAME:
            continue
        value = item.get("value") or {}
        texts = value.get("text") or []
        text = " ".join(str(t) for t in texts) if isinstance(texts, list) else str(texts)
        if "start" in value and value.get("end") is not None:
            segments.append(Segment(start_s=float(value["start"]), end_s=float(value["end"]), text=text,
                                    region_id=str(item.get("id")) if item.get("id") is not None else None))
        else:
            segments.append(Segment(start_s=_float(data.get("start_s"), 0.0), end_s=_float(data.get("end_s"), None),
                                    text=text))
    segments.sort(key=lambda s: (s.start_s, s.end_s if s.end_s is not None else float("inf")))
    return segments


def _float(value: object, default: float | None) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default
