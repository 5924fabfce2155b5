"""EngineOptions: checked once when built, each bad value a ConfigError naming its `engine.<name>` setting."""

from __future__ import annotations

import os

import pytest

from asr_service.engines import EngineOptions, create_engine
from asr_service.errors import ConfigError

CORES = os.cpu_count() or 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"decoder": "tensorrt"},
         r"engine\.decoder: 'tensorrt' is out of range \(allowed: 'auto', 'ctranslate2', 'onnxruntime'\)"),
        ({"device": "tpu"}, r"engine\.device: 'tpu' is out of range \(allowed: 'cpu', 'cuda', 'auto'\)"),
        ({"compute_type": "bfloat17"}, r"engine\.compute_type: 'bfloat17' is out of range \(allowed: default, "),
        ({"num_workers": -1}, r"engine\.num_workers: -1 is out of range \(allowed: >= 1\)"),
        ({"cpu_threads": -1}, r"engine\.cpu_threads: -1 is out of range \(allowed: >= 0\)"),
        ({"solo_threads": -1}, r"engine\.solo_threads: -1 is out of range \(allowed: >= 0 \(0 = all cores\)\)"),
        ({"solo_threads": CORES + 1}, rf"engine\.solo_threads: {CORES + 1} .*<= {CORES} \(the cores of this machine\)"),
        (
            {"decoder": "onnxruntime", "device": "cuda"},
            r"engine\.decoder: 'onnxruntime' .*'ctranslate2' or 'auto' when engine\.device is 'cuda'",
        ),
        (
            {"num_workers": CORES, "cpu_threads": 2},
            rf"engine\.num_workers \* engine\.cpu_threads: {2 * CORES} .*<= {CORES}",
        ),
    ],
)
def test_bad_values_raise_config_error_naming_the_setting(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EngineOptions(**settings)  # type: ignore[arg-type]


def test_automatic_values_are_resolved_and_pass() -> None:
    options = EngineOptions()
    assert options.num_workers == CORES and options.decoder == "onnxruntime"
    assert options.num_workers * options.threads_per_worker <= CORES
    on_gpu = EngineOptions(device="cuda", solo_threads=CORES + 1)  # the cores bound only the CPU's threads
    assert (on_gpu.num_workers, on_gpu.decoder) == (1, "ctranslate2")


def test_unknown_engine_is_a_config_error() -> None:
    known = r"\(known: ctranslate2-whisper, transformers-whisper\)"
    with pytest.raises(ConfigError, match=r"engine: unknown engine 'kaldi' " + known):
        create_engine(EngineOptions(engine="kaldi"))
