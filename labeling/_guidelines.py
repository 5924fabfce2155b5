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
        *_section_verbatim(spec),
        *_section_text(spec),
        *_section_numbers(spec),
        *_section_fillers(spec),
        *_section_tags(spec),
        *_section_speech(spec),
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
    "Oh, I think it was ((Tuesday)) at 7:45 a.m.",
    "Interviewer: Mr. Diaz, were you born in the '70s?",
)


def _section_verbatim(spec: ConventionSpec) -> list[str]:
    reductions = ", ".join(f"`{k}`" for k in list(spec.reductions)[:6])
    if spec.verbatim == "full":
        text = ("**Full verbatim.** Write every word as it was said, including repetitions, false starts and "
                f"spoken reductions ({reductions}: write them as said, not as `going to`). Do not correct grammar.")
    else:
        text = ("**Clean verbatim.** Write the words said, without hesitations and cut-off words, and write "
                f"spoken reductions out ({reductions} as `going to`, `want to` ...). Do not correct grammar.")
    return ["## Verbatim", "", text, ""]


def _section_numbers(spec: ConventionSpec) -> list[str]:
    if spec.numbers.style == "digits":
        return ["## Numbers", "", "Write numbers as digits: `25`, `1984`.", ""]
    return [
        "## Numbers", "",
        "Write numbers as words, the way they were read, never with hyphens.", "",
        "- Counts and amounts: `twenty five`, `three hundred`, `one thousand two hundred fifty`, "
        "`three point five`, `fifty percent`.",
        "- Years as read: `nineteen eighty four`, `nineteen oh five`, `two thousand four`, `twenty nineteen`; "
        "decades: `the eighties`, `the nineteen sixties`.",
        "- Ordinals: `first`, `twenty first`. Times: `seven forty five`, `nine oh five`, `ten o'clock`; "
        "`am` and `pm` as one word.",
        "- Money: the number as read, then the unit: `twenty five dollars`, `four ninety nine`, "
        "`four dollars ninety nine` — whatever the speaker said.",
        "- Digit strings (phone numbers, zip codes, card and flight numbers, scores): digit by digit or in "
        "groups, exactly as read, `oh` where the speaker said oh and `zero` where they said zero: "
        "`six one seven five five five oh one four seven`, `seven forty seven`.",
        "- When digits could be read more than one way (`747`, `2019`, `10:00`, `$4.99`), the check cannot "
        "fix them for you: it marks them, and you write what you heard.",
        "",
    ]


def _section_speech(spec: ConventionSpec) -> list[str]:
    tag = spec.tags.render
    unintelligible = tag("unintelligible") if "unintelligible" in spec.tags.allowed else "the tag for it"
    silence = tag("silence") if "silence" in spec.tags.allowed else "a tag"
    crosstalk = (f"; overlapping speech you cannot follow is `{tag('crosstalk')}`"
                 if "crosstalk" in spec.tags.allowed else "")
    partial = (f"- **Cut-off words and false starts**: the part spoken, then `{spec.partial_words.marker}`: "
               f"`wor{spec.partial_words.marker} word`, `I- I think`; repeated words as often as said."
               if spec.partial_words.policy == "keep" else
               "- **Cut-off words**: leave them out; repeated words once.")
    return [
        "## Speakers, uncertain words and silence", "",
        f"- **Speakers**: no speaker labels (`Speaker 2:`, `A:`); one transcript per clip{crosstalk}.",
        f"- **Uncertain words**: write your best guess plainly, without marks (not `((word))` or `word?`); "
        f"when you cannot guess, `{unintelligible}` (not `xxx`).",
        partial,
        "- **Acronyms and letters**: as one lower-case word without dots: `fbi`, `nhs`, `am`. Titles as "
        "spoken: `mister`, `missus`, `doctor`.",
        "- **Foreign words**: as heard, in the Latin alphabet, accents left off (`cafe`, `senor`).",
        f"- **A clip without speech**: never submit it empty; write `{silence}` or the event you hear.",
        "",
    ]


def _section_text(spec: ConventionSpec) -> list[str]:
    casing = "Write everything in lower case, including `i` and names." if spec.casing == "lower" \
        else "Keep the usual capitalisation of words."
    if spec.punctuation_keep:
        punct = "The only punctuation allowed is " + ", ".join(f"`{p}`" for p in spec.punctuation_keep) + \
            ", directly after a word. Apostrophes inside words (`today's`) stay."
    else:
        punct = "No punctuation: no commas, full stops, question marks or quotes. Apostrophes inside " \
            "words (`today's`) stay."
    hyphens = ("Write compound words as separate words (`well known`, not `well-known`)."
               if spec.compound_hyphens == "split" else "Keep the hyphen of compound words (`well-known`).")
    symbols = ", ".join(f"`{k}` as `{v}`" for k, v in spec.characters.symbols.items())
    lines = [
        "## Text", "",
        f"- {casing}", f"- {punct}", f"- {hyphens}",
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
    fillers = {form for canonical, variants in spec.fillers.canonical.items() for form in (canonical, *variants)}
    words = [f"`{w}`" for w in ("oh", "ah", "eh", "huh") if w not in fillers]
    if words:
        lines += ["", f"Only hesitations are fillers: {', '.join(words)} are words, written as said (`oh` is "
                      "also a spoken zero, `eh` a question)."]
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
