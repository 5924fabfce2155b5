"""docs/mobile.md holds: the proto options the Kotlin/Java and Swift stubs rely on are set, and the protoc
commands the page gives for the builtin generators (Java, Kotlin, Objective-C) run on the proto as it is."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import vad
from protos.asr.v1 import asr_pb2
from tests.paths import REPO_ROOT

DOC = REPO_ROOT / "docs" / "mobile.md"


def test_the_proto_names_the_packages_the_mobile_stubs_use() -> None:
    options = asr_pb2.DESCRIPTOR.GetOptions()
    assert options.java_package == "io.asrservice.asr.v1"
    assert options.java_multiple_files is True
    assert options.java_outer_classname == "AsrProto"
    assert options.swift_prefix == "ASR"
    assert options.objc_class_prefix == "ASR"
    text = DOC.read_text()
    for name in ("io.asrservice.asr.v1", "ASRRecognizeRequest", "RecognizerGrpcKt", "RecognizerCoroutineStub"):
        assert name in text, f"docs/mobile.md no longer mentions {name}"
    # the VAD settings the page gives a mobile app are vad/'s defaults
    defaults = vad.VadOptions()
    for name in ("frame_ms", "aggressiveness", "pre_padding_ms", "post_padding_ms", "min_silence_ms",
                 "min_speech_ms", "max_clip_s"):
        assert f"{name} = {getattr(defaults, name):g}" in text, name


def test_the_documented_protoc_commands_generate_java_kotlin_and_objc(tmp_path: Path) -> None:
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.skip("needs Debian's protobuf-compiler (scripts/install-system-deps installs it)")
    commands = [line.strip() for line in re.findall(r"^protoc .*$", DOC.read_text(), flags=re.MULTILINE)
                if "--plugin" not in line]
    assert commands, "docs/mobile.md shows no protoc command"
    for command in commands:
        args = [arg.replace("gen/", f"{tmp_path}/") for arg in shlex.split(command)]
        for arg in args:
            if arg.startswith("--") and "_out=" in arg:
                Path(arg.split("=", 1)[1].rsplit(":", 1)[-1]).mkdir(parents=True, exist_ok=True)  # "lite:DIR"
        done = subprocess.run([protoc, *args[1:]], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    package = tmp_path / "java" / "io" / "asrservice" / "asr" / "v1"
    assert (package / "RecognizeRequest.java").is_file() and (package / "VadStats.java").is_file()
    assert (tmp_path / "kotlin" / "io" / "asrservice" / "asr" / "v1" / "RecognizeRequestKt.kt").is_file()
    header = (tmp_path / "objc" / "protos" / "asr" / "v1" / "Asr.pbobjc.h").read_text()
    assert "@interface ASRRecognizeRequest" in header
