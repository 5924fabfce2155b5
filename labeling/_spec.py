"""The transcription convention spec: a versioned YAML file, loaded into frozen dataclasses.

Validation happens here, once: an unknown key, a wrong type, a value outside its choices or a regex that
does not compile raises :class:`SpecError` with the dotted path of the offending key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from labeling._errors import SpecError

__all__ = [
    "BUILTIN_RULES",
    "DEFAULT_SEVERITIES",
    "CharacterSpec",
    "ConventionSpec",
    "FillerSpec",
    "NumberSpec",
    "PartialWordSpec",
    "RegexRule",
    "ScoringSpec",
    "Severity",
    "TagSpec",
    "load_spec",
    "parse_spec",
]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")
SPEC_FORMAT = 1

#: Built-in rule ids, each with its default severity (overridable under ``severity:`` in the spec).
DEFAULT_SEVERITIES: Mapping[str, Severity] = {
    "whitespace": "info",
    "characters": "error",
    "casing": "error",
    "punctuation": "error",
    "filler-spelling": "error",
    "filler-policy": "error",
    "tag-form": "error",
    "tag-unknown": "error",
    "partial-word": "warning",
    "numbers": "error",
    "digit-string": "error",
    "spelling": "warning",
    "reduction": "warning",
    "acronym": "warning",
    "compound-hyphen": "warning",
    "speaker-label": "error",
    "uncertain-word": "warning",
    "empty-transcript": "error",
}
BUILTIN_RULES: tuple[str, ...] = tuple(DEFAULT_SEVERITIES)


@dataclass(frozen=True, kw_only=True)
class FillerSpec:
    """Hesitation fillers: how they are written and the spellings that map to each canonical one."""

    policy: Literal["transcribe", "omit", "tag"]
    collapse_elongation: bool
    canonical: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, kw_only=True)
class TagSpec:
    """Non-speech event tags: the allowed names, their exact form and the names that map to them."""

    open: str
    close: str
    allowed: tuple[str, ...]
    variants: Mapping[str, str]
    word_forms: Mapping[str, str]  # bare words that stand for a tag ("xxx": unintelligible)

    def render(self, name: str) -> str:
        """The exact written form of the tag ``name``."""
        return f"{self.open}{name}{self.close}"


@dataclass(frozen=True, kw_only=True)
class PartialWordSpec:
    """Words cut off by the speaker ("wor-")."""

    policy: Literal["keep", "omit"]
    marker: str


@dataclass(frozen=True, kw_only=True)
class NumberSpec:
    """Whether numbers are written as words or as digits."""

    style: Literal["words", "digits"]


@dataclass(frozen=True, kw_only=True)
class CharacterSpec:
    """What a word may contain, and how other characters are brought into that set."""

    allowed: str
    fold_accents: bool
    symbols: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class RegexRule:
    """An extra rule over the whole text; fixable when ``replace`` is set."""

    id: str
    pattern: re.Pattern[str]
    replace: str | None
    severity: Severity
    message: str


@dataclass(frozen=True, kw_only=True)
class ScoringSpec:
    """What the WER normaliser removes after canonicalising."""

    drop_fillers: bool
    drop_tags: bool
    drop_partial_words: bool


@dataclass(frozen=True, kw_only=True)
class ConventionSpec:
    """One transcription convention, as loaded from its YAML file."""

    name: str
    version: str
    description: str
    fillers: FillerSpec
    tags: TagSpec
    partial_words: PartialWordSpec
    numbers: NumberSpec
    casing: Literal["lower", "preserve"]
    punctuation_keep: tuple[str, ...]
    characters: CharacterSpec
    compound_hyphens: Literal["split", "keep"]
    spellings: Mapping[str, str]
    verbatim: Literal["full", "clean"]
    reductions: Mapping[str, str]  # spoken reductions: kept in full verbatim, written out in clean
    rules: tuple[RegexRule, ...]
    severities: Mapping[str, Severity]
    scoring: ScoringSpec

    @property
    def label(self) -> str:
        """``name@version``, the string recorded next to each exported transcript."""
        return f"{self.name}@{self.version}"

    def severity_of(self, rule: str) -> Severity:
        """The severity of a built-in rule under this spec."""
        return self.severities[rule]


_TOP_KEYS = (
    "format", "convention", "verbatim", "fillers", "tags", "partial_words", "numbers", "casing", "punctuation",
    "characters", "compound_hyphens", "spellings", "reductions", "rules", "severity", "scoring",
)


def load_spec(path: str | Path | None = None) -> ConventionSpec:
    """Load a convention spec from ``path``, or the default spec shipped with the package."""
    if path is None:
        text = resources.files("labeling").joinpath("default_convention.yaml").read_text(encoding="utf-8")
        source = "default_convention.yaml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"cannot read spec {path}: {exc.strerror}") from exc
        source = str(path)
    return parse_spec(text, source=source)


def parse_spec(text: str, *, source: str = "<spec>") -> ConventionSpec:
    """Parse and validate the YAML text of a convention spec."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from exc
    try:
        return _build(_Node(raw, ""))
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from exc


class _Node:
    """A value inside the YAML document together with its dotted path, for error messages."""

    def __init__(self, value: object, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, why: str) -> SpecError:
        return SpecError(f"{self.path or '<top>'}: {why}")

    def mapping(self, allowed: tuple[str, ...] | None = None, *, required: tuple[str, ...] = ()) -> None:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected a mapping, got {type(self.value).__name__}")
        for key in self.value:
            if not isinstance(key, str):
                raise self.fail(f"keys must be strings, got {key!r}")
            if allowed is not None and key not in allowed:
                raise self.child(key).fail(f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in self.value:
                raise self.child(key).fail("missing required key")

    def child(self, key: str | int) -> _Node:
        value = cast(Any, self.value)[key] if self.has(key) else None
        return _Node(value, f"{self.path}.{key}" if self.path else str(key))

    def has(self, key: str | int) -> bool:
        if isinstance(self.value, dict):
            return key in self.value
        return isinstance(self.value, list) and isinstance(key, int) and key < len(self.value)

    def string(self, default: str | None = None) -> str:
        if self.value is None and default is not None:
            return default
        if isinstance(self.value, (int, float)) and not isinstance(self.value, bool):
            return str(self.value)
        if not isinstance(self.value, str):
            raise self.fail(f"expected a string, got {type(self.value).__name__}")
        return self.value

    def boolean(self, default: bool) -> bool:
        if self.value is None:
            return default
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, got {self.value!r}")
        return self.value

    def choice(self, choices: tuple[str, ...], default: str) -> str:
        value = self.string(default)
        if value not in choices:
            raise self.fail(f"{value!r} is not one of {', '.join(choices)}")
        return value

    def strings(self) -> tuple[str, ...]:
        if self.value is None:
            return ()
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {type(self.value).__name__}")
        return tuple(self.child(i).string() for i in range(len(self.value)))

    def string_map(self) -> dict[str, str]:
        if self.value is None:
            return {}
        self.mapping()
        return {str(k): self.child(str(k)).string() for k in cast(dict[str, object], self.value)}


def _build(root: _Node) -> ConventionSpec:
    root.mapping(_TOP_KEYS, required=("format", "convention"))
    fmt = root.child("format").value
    if fmt != SPEC_FORMAT:
        raise root.child("format").fail(f"unsupported format {fmt!r} (this version reads {SPEC_FORMAT})")
    conv = root.child("convention")
    conv.mapping(("name", "version", "description"), required=("name", "version"))
    severities = _severities(root.child("severity"))
    chars = _characters(root.child("characters"))
    punct = root.child("punctuation")
    if punct.value is not None:
        punct.mapping(("keep",))
    keep = punct.child("keep").strings() if punct.value is not None else ()
    for i, mark in enumerate(keep):
        if len(mark) != 1 or mark.isalnum() or mark.isspace():
            raise punct.child("keep").child(i).fail(f"{mark!r} is not a single punctuation character")
    verbatim = cast(Literal["full", "clean"], root.child("verbatim").choice(("full", "clean"), "full"))
    # clean verbatim leaves out what full verbatim transcribes, unless the spec says otherwise
    omitted = "omit" if verbatim == "clean" else None
    return ConventionSpec(
        name=conv.child("name").string(),
        version=conv.child("version").string(),
        description=conv.child("description").string("").strip(),
        fillers=_fillers(root.child("fillers"), default_policy=omitted or "transcribe"),
        tags=_tags(root.child("tags")),
        partial_words=_partial_words(root.child("partial_words"), default_policy=omitted or "keep"),
        numbers=NumberSpec(
            style=cast(Literal["words", "digits"], _sub(root, "numbers", ("style",)).child("style").choice(
                ("words", "digits"), "words"))
        ),
        casing=cast(Literal["lower", "preserve"], root.child("casing").choice(("lower", "preserve"), "lower")),
        punctuation_keep=keep,
        characters=chars,
        compound_hyphens=cast(
            Literal["split", "keep"], root.child("compound_hyphens").choice(("split", "keep"), "split")
        ),
        spellings={k.lower(): v for k, v in root.child("spellings").string_map().items()},
        verbatim=verbatim,
        reductions={k.lower(): v for k, v in root.child("reductions").string_map().items()},
        rules=_rules(root.child("rules")),
        severities=severities,
        scoring=_scoring(root.child("scoring")),
    )


def _sub(root: _Node, key: str, allowed: tuple[str, ...]) -> _Node:
    node = root.child(key)
    if node.value is None:
        node.value = {}
    node.mapping(allowed)
    return node


def _fillers(node: _Node, *, default_policy: str) -> FillerSpec:
    if node.value is None:
        node.value = {}
    node.mapping(("policy", "collapse_elongation", "canonical"))
    canonical_node = node.child("canonical")
    canonical: dict[str, tuple[str, ...]] = {}
    if canonical_node.value is not None:
        canonical_node.mapping()
        for key in cast(dict[str, object], canonical_node.value):
            variants = canonical_node.child(key).strings()
            canonical[key.lower()] = tuple(v.lower() for v in variants)
    return FillerSpec(
        policy=cast(
            Literal["transcribe", "omit", "tag"],
            node.child("policy").choice(("transcribe", "omit", "tag"), default_policy),
        ),
        collapse_elongation=node.child("collapse_elongation").boolean(True),
        canonical=canonical,
    )


def _tags(node: _Node) -> TagSpec:
    if node.value is None:
        node.value = {}
    node.mapping(("open", "close", "allowed", "variants", "word_forms"))
    allowed = tuple(a.lower() for a in node.child("allowed").strings())
    variants = {k.lower(): v.lower() for k, v in node.child("variants").string_map().items()}
    word_forms = {k.lower(): v.lower() for k, v in node.child("word_forms").string_map().items()}
    for key, mapping in (("variants", variants), ("word_forms", word_forms)):
        for name, target in mapping.items():
            if target not in allowed:
                raise node.child(key).child(name).fail(f"maps to {target!r}, which is not an allowed tag")
    tag = TagSpec(
        open=node.child("open").string("["), close=node.child("close").string("]"),
        allowed=allowed, variants=variants, word_forms=word_forms,
    )
    if not tag.open or not tag.close or any(c.isalnum() or c.isspace() for c in tag.open + tag.close):
        raise node.fail("open and close must be non-empty punctuation, e.g. '[' and ']'")
    return tag


def _partial_words(node: _Node, *, default_policy: str) -> PartialWordSpec:
    if node.value is None:
        node.value = {}
    node.mapping(("policy", "marker"))
    marker = node.child("marker").string("-")
    if marker not in ("-", "~"):
        raise node.child("marker").fail(f"{marker!r} is not one of '-', '~'")
    policy = node.child("policy").choice(("keep", "omit"), default_policy)
    return PartialWordSpec(policy=cast(Literal["keep", "omit"], policy), marker=marker)


def _characters(node: _Node) -> CharacterSpec:
    if node.value is None:
        node.value = {}
    node.mapping(("allowed", "fold_accents", "symbols"))
    allowed = node.child("allowed").string("a-z'")
    try:
        re.compile(f"[{allowed}]")
    except re.error as exc:
        raise node.child("allowed").fail(f"bad regex character class [{allowed}]: {exc}") from exc
    return CharacterSpec(
        allowed=allowed,
        fold_accents=node.child("fold_accents").boolean(True),
        symbols=node.child("symbols").string_map(),
    )


def _rules(node: _Node) -> tuple[RegexRule, ...]:
    if node.value is None:
        return ()
    if not isinstance(node.value, list):
        raise node.fail("expected a list of rules")
    rules: list[RegexRule] = []
    for i in range(len(node.value)):
        item = node.child(i)
        item.mapping(("id", "pattern", "replace", "severity", "message"), required=("id", "pattern"))
        rule_id = item.child("id").string()
        pattern = item.child("pattern").string()
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise item.child("pattern").fail(f"rule {rule_id!r}: bad regex {pattern!r}: {exc}") from exc
        replace = item.child("replace").string() if item.has("replace") else None
        if replace is not None:
            _check_replacement(item.child("replace"), rule_id, compiled, replace)
        if rule_id in BUILTIN_RULES or any(r.id == rule_id for r in rules):
            raise item.child("id").fail(f"duplicate rule id {rule_id!r}")
        rules.append(RegexRule(
            id=rule_id, pattern=compiled, replace=replace,
            severity=cast(Severity, item.child("severity").choice(SEVERITIES, "error")),
            message=item.child("message").string(f"matches rule {rule_id}"),
        ))
    return tuple(rules)


_GROUP_REF = re.compile(r"\\(?:(\d+)|g<([^>]*)>)")


def _check_replacement(node: _Node, rule_id: str, pattern: re.Pattern[str], replace: str) -> None:
    """Group references in ``replace`` must exist in ``pattern`` (re checks them only on a match)."""
    for match in _GROUP_REF.finditer(replace):
        number, name = match.group(1), match.group(2)
        ref = number if number is not None else name
        known = (
            int(ref) <= pattern.groups if ref.isdigit() else ref in pattern.groupindex
        )
        if not known:
            raise node.fail(f"rule {rule_id!r}: replacement refers to group {ref!r}, which the pattern lacks")


def _severities(node: _Node) -> dict[str, Severity]:
    severities: dict[str, Severity] = dict(DEFAULT_SEVERITIES)
    if node.value is None:
        return severities
    node.mapping(BUILTIN_RULES)
    for key in cast(dict[str, object], node.value):
        severities[key] = cast(Severity, node.child(key).choice(SEVERITIES, "error"))
    return severities


def _scoring(node: _Node) -> ScoringSpec:
    if node.value is None:
        node.value = {}
    node.mapping(("drop_fillers", "drop_tags", "drop_partial_words"))
    return ScoringSpec(
        drop_fillers=node.child("drop_fillers").boolean(True),
        drop_tags=node.child("drop_tags").boolean(True),
        drop_partial_words=node.child("drop_partial_words").boolean(True),
    )
