"""Redaction on what people actually say and type: what must go, and what must stay."""

from __future__ import annotations

import pytest

from asr_service.request_log import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Whisper's usual way of writing a dictated number, and what people type into an edit box
        ("Call me back at 555-123-4567.", "Call me back at [phone]."),
        ("my number is (555) 123-4567 thanks", "my number is [phone] thanks"),
        ("you can reach me on 555 123 4567, any time", "you can reach me on [phone], any time"),
        ("It's 555.123.4567", "It's [phone]"),
        ("+1 (555) 123-4567", "[phone]"),
        ("the UK office is +44 20 7946 0958", "the UK office is [phone]"),
        ("ring me on 07700 900123 please", "ring me on [phone] please"),
        ("Mon numéro : 01 23 45 67 89", "Mon numéro : [phone]"),
        ("toll free 1-800-555-0199!", "toll free [phone]!"),
        ("text 5551234567", "text [phone]"),
        ("Phone:555-123-4567", "Phone:[phone]"),
        ("dial 555-1234 for the front desk", "dial [phone] for the front desk"),
        ("send it to john.smith@example.com please", "send it to [email] please"),
        ("Jane_Doe+work@mail.co.uk.", "[email]."),
        ("email me at a@b.io or call 555-123-4567", "email me at [email] or call [phone]"),
    ],
)
def test_contact_details_written_in_digits_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "In 2024 we moved to Boston.",
        "between 2019 2020 and 2021",
        "It costs $12.99 or 1,299.00 dollars.",
        "the house went for $1234567",
        "population 1,234,567",
        "1 250 000 €",
        "Meet me at 10:30 or 9.45.",
        "the meeting is 10:30:45 sharp",
        "on 2024-03-14, or 14.03.2024, or 03-14-2024, or 12/03/2024",
        "2024-03-14T10:30",
        "PIN 1234, room 12, flight 447",
        "pi is 3.14159265 and epsilon 0.0000001",
        "growth of 12345678%",
        "the server is 192.168.1.100:8080",
        "version 1.2.3",
        "the 3 of us at 7 pm",
        "five five five one two three four five six seven",  # spoken digits: documented as not caught
        "john dot smith at gmail dot com",  # a dictated address: documented as not caught
        "",
    ],
)
def test_numbers_that_are_not_phone_numbers_stay(text: str) -> None:
    assert redact(text) == text
