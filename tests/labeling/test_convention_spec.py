"""Loading and validating convention specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from labeling import SpecError, load_spec, parse_spec

MINIMAL = "format: 1\nconvention: {name: t, version: '2'}\n"


def test_default_spec_loads_with_documented_choices() -> None:
    spec = load_spec()
    assert spec.label == "asr-default@2.0.0"
    assert spec.fillers.policy == "transcribe"
    assert spec.fillers.canonical["um"] == ("umm", "uhm", "uhmm", "erm", "errm")
    assert "oh" not in spec.fillers.canonical and "eh" not in spec.fillers.canonical["uh"]
    assert spec.tags.render("noise") == "[noise]"
    assert spec.numbers.style == "words"
    assert spec.casing == "lower"
    assert spec.severity_of("whitespace") == "info"
    assert spec.severity_of("casing") == "error"
    assert [r.id for r in spec.rules] == ["dollar-amount", "dollars-and-cents"]


def test_minimal_spec_gets_defaults() -> None:
    spec = parse_spec(MINIMAL)
    assert spec.label == "t@2"
    assert spec.fillers.canonical == {}
    assert spec.tags.allowed == ()
    assert spec.partial_words.marker == "-"
    assert spec.scoring.drop_fillers


def test_spec_from_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL + "casing: preserve\n")
    assert load_spec(path).casing == "preserve"


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ("fillers: {polcy: omit}\n", "fillers.polcy: unknown key"),
        ("colour: red\n", "colour: unknown key"),
        ("rules:\n  - {id: broken, pattern: '(ab'}\n", "rules.0.pattern: rule 'broken': bad regex '(ab'"),
        ("rules:\n  - {id: r, pattern: 'a', replace: '\\2'}\n", "rules.0.replace: rule 'r': replacement refers"),
        ("rules:\n  - {id: casing, pattern: 'a'}\n", "rules.0.id: duplicate rule id 'casing'"),
        ("rules:\n  - {id: r, pattern: 'a', severity: fatal}\n", "rules.0.severity: 'fatal' is not one of"),
        ("numbers: {style: roman}\n", "numbers.style: 'roman' is not one of words, digits"),
        ("characters: {allowed: 'a-'}\n", None),
        ("characters: {allowed: 'z-a'}\n", "characters.allowed: bad regex character class"),
        ("severity: {casng: info}\n", "severity.casng: unknown key"),
        ("tags: {allowed: [noise], variants: {static: hum}}\n", "tags.variants.static: maps to 'hum'"),
        ("fillers: {collapse_elongation: 'yes please'}\n", "fillers.collapse_elongation: expected true or false"),
        ("punctuation: {keep: ['ab']}\n", "punctuation.keep.0: 'ab' is not a single punctuation character"),
    ],
)
def test_bad_spec_is_rejected_with_the_key_named(extra: str, names: str | None) -> None:
    if names is None:
        parse_spec(MINIMAL + extra)  # a trailing hyphen is a valid class
        return
    with pytest.raises(SpecError) as info:
        parse_spec(MINIMAL + extra, source="my.yaml")
    assert str(info.value).startswith("my.yaml: ")
    assert names in str(info.value)


def test_wrong_format_version_and_missing_keys() -> None:
    with pytest.raises(SpecError, match="format: unsupported format 2"):
        parse_spec("format: 2\nconvention: {name: a, version: '1'}\n")
    with pytest.raises(SpecError, match="convention: missing required key"):
        parse_spec("format: 1\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec("format: [1\n")
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec("/nonexistent/spec.yaml")
