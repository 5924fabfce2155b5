"""The `conventions` and `label` command groups, through `python -m labeling` and `register()`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from labeling.cli import register


def run(args: list[str], stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labeling", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False, env=env)


def test_register_adds_both_groups_with_funcs() -> None:
    parser = argparse.ArgumentParser(prog="asr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["conventions", "fix", "--spec", "x.yaml"])
    assert callable(args.func) and args.spec == Path("x.yaml")
    args = parser.parse_args(["label", "export", "--project", "3", "--out", "m.jsonl"])
    assert callable(args.func) and args.project == 3


def test_fix_writes_canonical_text_per_id() -> None:
    lines = [{"id": "a", "text": "Um, today's weather"}, {"id": 7, "text": "umm  today\u2019s weather."},
             {"id": None, "text": "UHM... Today's Weather!"}]
    result = run(["conventions", "fix"], "\n".join(json.dumps(x) for x in lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert out == [{"id": "a", "text": "um today's weather"}, {"id": 7, "text": "um today's weather"},
                   {"id": None, "text": "um today's weather"}]


def test_lint_writes_violations_per_id_and_exit_code() -> None:
    result = run(["conventions", "lint"], '{"id": 1, "text": "Um, hi"}\n{"id": 2, "text": "um hi"}\n')
    assert result.returncode == 1
    first, second = (json.loads(x) for x in result.stdout.splitlines())
    assert first["id"] == 1 and first["errors"] == 2
    assert [v["rule"] for v in first["violations"]] == ["casing", "punctuation"]
    assert first["violations"][0] == {"start": 0, "end": 2, "text": "Um", "rule": "casing", "severity": "error",
                                      "message": "write in lower case", "fix": "um"}
    assert second == {"id": 2, "errors": 0, "violations": []}
    clean = run(["conventions", "lint"], '{"id": 2, "text": "um hi"}\n')
    assert clean.returncode == 0


def test_bad_input_and_bad_spec_exit_2_with_a_message(tmp_path: Path) -> None:
    result = run(["conventions", "fix"], '{"id": 1, "text": "ok"}\nnot json\n')
    assert result.returncode == 2
    assert "stdin:2: not valid JSON (Expecting value at column 1)" in result.stderr
    spec = tmp_path / "bad.yaml"
    spec.write_text("format: 1\nconvention: {name: b, version: '1'}\nrules:\n  - {id: r1, pattern: '[a-'}\n")
    result = run(["conventions", "lint", "--spec", str(spec)], '{"id": 1, "text": "a"}\n')
    assert result.returncode == 2
    assert "rules.0.pattern: rule 'r1': bad regex" in result.stderr
    spec.write_text("format: 1\nconvention: {name: b, version: '1'}\nfilers: {}\n")
    result = run(["conventions", "fix", "--spec", str(spec)], "")
    assert result.returncode == 2 and "filers: unknown key" in result.stderr


def test_guidelines_command_prints_markdown_and_html() -> None:
    md = run(["conventions", "guidelines"])
    assert md.returncode == 0 and md.stdout.startswith("# Transcription guidelines: asr-default (version 2.0.0)")
    html = run(["conventions", "guidelines", "--html"])
    assert html.returncode == 0 and "<h1>Transcription guidelines" in html.stdout and "<table>" in html.stdout


def test_label_commands_report_server_down_clearly() -> None:
    # Whatever the caller's environment says, point at a port where nothing listens.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env |= {"LABEL_STUDIO_URL": "http://127.0.0.1:1", "LABEL_STUDIO_API_KEY": "0" * 40}
    down = run(["label", "lint", "--project", "1"], env=env)
    assert down.returncode == 3, down.stderr
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0], lines
    assert "0" * 40 not in down.stderr  # the token never appears
