"""Guidelines generated from the spec."""

from __future__ import annotations

from labeling import Canonicaliser, guidelines_html, guidelines_markdown, load_spec, parse_spec


def test_markdown_covers_every_part_of_the_spec() -> None:
    spec = load_spec()
    text = guidelines_markdown(spec)
    assert "version 2.0.0" in text
    for canonical, variants in spec.fillers.canonical.items():
        assert f"| `{canonical}` | {', '.join(variants)} |" in text
    for tag in spec.tags.allowed:
        assert f"`[{tag}]`" in text
    assert "`okay` | ok" in text
    assert "**dollar-amount** (error)" in text
    assert "Write numbers as words" in text


def test_examples_in_the_guidelines_are_canonical() -> None:
    spec = load_spec()
    canon = Canonicaliser(spec)
    rows = [line for line in guidelines_markdown(spec).splitlines() if line.startswith("| `") and "` | `" in line]
    examples = [row.split("` | `") for row in rows if "." in row or "$" in row or "{" in row]
    assert examples
    for written, correct in examples:
        assert canon.canonicalise(written.removeprefix("| `")) == correct.removesuffix("` |")


def test_guidelines_follow_the_spec_policy() -> None:
    spec = parse_spec("format: 1\nconvention: {name: x, version: '3'}\nfillers: {policy: omit, canonical: {um: []}}\n"
                      "numbers: {style: digits}\n")
    text = guidelines_markdown(spec)
    assert "Do not transcribe hesitation fillers" in text and "Write numbers as digits" in text


def test_html_is_escaped_and_structured() -> None:
    html = guidelines_html(load_spec())
    assert html.startswith("<h1>")
    assert "<code>[noise]</code>" in html
    assert "&amp;" in html  # the "&" symbol row
    assert "<script" not in html
