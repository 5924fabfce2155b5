"""Annotator guidelines generated from the convention spec (Markdown, and HTML for Label Studio)."""

from __future__ import annotations

import html
import re

from labeling._canonical import Canonicaliser
from labeling._spec import ConventionSpec

__all__ = ["guidelines_html", "guidelines_markdown"]

_FILLER_POLICY = {
    "transcribe": "Transcribe every hesitation filler, always with its one canonical spelling:",
    "omit": "Do not transcribe hesitation fillers (leave them out). These are fillers:",
    "tag": "Write every hesitation filler as a tag, with its one canonical spelling:",
}


def guidelines_markdown(spec: ConventionSpec) -> str:
    """The guideline text for annotators, as Markdown, with worked examples checked against the spec."""
    canon = Canonicaliser(spec)
    lines = [
        f"# Transcription guidelines: {spec.name} (version {spec.version})",
        "",
        spec.description or "Write exactly what is said, following the rules below.",
        "",
        "Submitted transcripts are checked automatically against these rules; the task is marked when one "
        "breaks them. Write what was said, not what was meant: no corrections of grammar, no additions.",
        "",
        *_section_text(spec),
        *_section_fillers(spec),
        *_section_tags(spec),
        "## Partial words",
        "",
        (f"A word cut off by the speaker is written as the part spoken followed by `{spec.partial_words.marker}`"
         f" (for example `wor{spec.partial_words.marker} word`)."
         if spec.partial_words.policy == "keep" else "Leave out words cut off by the speaker."),
        "",
        *_section_spellings(spec),
        *_section_rules(spec),
        "## Examples",
        "",
        "| written | correct |",
        "|---|---|",
    ]
    for example in _EXAMPLES:
        lines.append(f"| `{example}` | `{canon.canonicalise(example)}` |")
    lines.append("")
    return "\n".join(lines)


_EXAMPLES = (
    "Um, today's weather is OK.",
    "Uhm... I paid $5 for 2 tickets (laughs)",
    "the wor- word was well-known {noise}",
)


def _section_text(spec: ConventionSpec) -> list[str]:
    casing = "Write everything in lower case, including `i` and names." if spec.casing == "lower" \
        else "Keep the usual capitalisation of words."
    if spec.punctuation_keep:
        punct = "The only punctuation allowed is " + ", ".join(f"`{p}`" for p in spec.punctuation_keep) + \
            ", directly after a word. Apostrophes inside words (`today's`) stay."
    else:
        punct = "No punctuation: no commas, full stops, question marks or quotes. Apostrophes inside " \
            "words (`today's`) stay."
    numbers = ("Write numbers as words, as they are spoken: `twenty five`, `nineteen eighty four`, "
               "`three point five`, never with hyphens." if spec.numbers.style == "words"
               else "Write numbers as digits: `25`, `1984`.")
    hyphens = ("Write compound words as separate words (`well known`, not `well-known`)."
               if spec.compound_hyphens == "split" else "Keep the hyphen of compound words (`well-known`).")
    symbols = ", ".join(f"`{k}` as `{v}`" for k, v in spec.characters.symbols.items())
    lines = [
        "## Text", "",
        f"- {casing}", f"- {punct}", f"- {numbers}", f"- {hyphens}",
        f"- Words contain only the characters `[{spec.characters.allowed}]`"
        + (" (write accented letters without accents)." if spec.characters.fold_accents else "."),
        "- One space between words; none at the start or the end.",
    ]
    if symbols:
        lines.append(f"- Symbols are written as the word spoken: {symbols}.")
    return [*lines, ""]


def _section_fillers(spec: ConventionSpec) -> list[str]:
    lines = ["## Fillers (hesitations)", "", _FILLER_POLICY[spec.fillers.policy], "",
             "| write | for any of |", "|---|---|"]
    for canonical, variants in spec.fillers.canonical.items():
        written = spec.tags.render(canonical) if spec.fillers.policy == "tag" else canonical
        shown = f"`{written}`" if spec.fillers.policy != "omit" else f"~~{canonical}~~"
        lines.append(f"| {shown} | {', '.join(variants) or '-'} |")
    if spec.fillers.collapse_elongation:
        lines += ["", "Drawn-out fillers (`ummmm`, `uhhh`) are the same filler."]
    return [*lines, ""]


def _section_tags(spec: ConventionSpec) -> list[str]:
    lines = ["## Noises and events", "",
             "Mark a non-speech event with exactly one of these tags, in lower case, where it happens. "
             "No other tags exist; one tag covers a whole event.", "",
             "| tag | also covers |", "|---|---|"]
    for name in spec.tags.allowed:
        others = sorted(k for k, v in spec.tags.variants.items() if v == name)
        lines.append(f"| `{spec.tags.render(name)}` | {', '.join(others) or '-'} |")
    return [*lines, ""]


def _section_spellings(spec: ConventionSpec) -> list[str]:
    if not spec.spellings:
        return []
    lines = ["## One spelling per word", "", "| write | not |", "|---|---|"]
    by_target: dict[str, list[str]] = {}
    for variant, canonical in spec.spellings.items():
        by_target.setdefault(canonical, []).append(variant)
    for canonical, variants in by_target.items():
        lines.append(f"| `{canonical}` | {', '.join(sorted(variants))} |")
    return [*lines, ""]


def _section_rules(spec: ConventionSpec) -> list[str]:
    if not spec.rules:
        return []
    lines = ["## Other rules", ""]
    lines += [f"- **{rule.id}** ({rule.severity}): {rule.message}" for rule in spec.rules]
    return [*lines, ""]


_INLINE_CODE = re.compile(r"`([^`]*)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_STRIKE = re.compile(r"~~([^~]+)~~")


def _inline(text: str) -> str:
    escaped = html.escape(text, quote=False)
    escaped = _INLINE_CODE.sub(r"<code>\1</code>", escaped)
    escaped = _BOLD.sub(r"<b>\1</b>", escaped)
    return _STRIKE.sub(r"<s>\1</s>", escaped)


def guidelines_html(spec: ConventionSpec) -> str:
    """The guidelines as HTML (Label Studio shows a project's instructions as HTML)."""
    out: list[str] = []
    in_list = False
    in_table = False
    for line in guidelines_markdown(spec).splitlines():
        if in_list and not line.startswith("- "):
            out.append("</ul>")
            in_list = False
        if in_table and not line.startswith("|"):
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(line[2:])}</li>")
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            tag = "th" if not in_table else "td"
            if not in_table:
                out.append("<table>")
                in_table = True
            out.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_list:
        out.append("</ul>")
    if in_table:
        out.append("</table>")
    return "\n".join(out)
