from __future__ import annotations

from pathlib import Path

import pytest

from asr_service.config import MonitoringOptions, ServerConfig, load_config
from asr_service.errors import ConfigError


def test_defaults() -> None:
    config = load_config(env={})
    assert config == ServerConfig()
    assert config.budget_ms == 300.0
    assert config.engine.model == "tiny.en"
    assert 16_000 in config.sample_rates_hz


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "asr.toml"
    path.write_text(
        '[server]\nport = 6000\nbudget_ms = 250\nmax_clip_s = 12\n[engine]\nmodel = "/models/x"\n',
        encoding="utf-8",
    )
    config = load_config(path, env={"ASR_PORT": "7000", "ASR_ENGINE_COMPUTE_TYPE": "int8_float32"},
                         overrides={"budget_ms": 200.0, "max_clip_s": None})
    assert config.port == 7000  # env beats file
    assert config.budget_ms == 200.0  # flag beats file
    assert config.max_clip_s == 12.0  # unset flag leaves the file's value
    assert config.engine.model == "/models/x"
    assert config.engine.compute_type == "int8_float32"


def test_sample_rates_from_env() -> None:
    config = load_config(env={"ASR_SAMPLE_RATES_HZ": "16000,48000"})
    assert config.sample_rates_hz == (16_000, 48_000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nprot = 1\n", "unknown setting 'prot'"),
        ("[engine]\nmodle = 'x'\n", "unknown setting 'modle'"),
        ("[srever]\n", "unknown section"),
        ("[server]\nport = 'abc'\n", "port = 'abc' is not a valid int"),
        ("[server]\nport = 70000\n", "port: 70000 is out of range"),
        ("[server]\nmax_clip_s = -1\n", "max_clip_s: -1.0 is out of range"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_file_names_the_setting(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(path, env={})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config("/nonexistent/asr.toml", env={})


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment ASR_BUDGET_MS: budget_ms = 'fast'"):
        load_config(env={"ASR_BUDGET_MS": "fast"})


def test_oversubscription_refused() -> None:
    import os

    cores = os.cpu_count() or 1
    with pytest.raises(ConfigError, match=r"engine.num_workers \* engine.cpu_threads"):
        load_config(env={}, overrides={"engine.num_workers": cores, "engine.cpu_threads": 2})


def test_unknown_env_prefix_is_ignored_but_engine_keys_are_checked() -> None:
    assert load_config(env={"ASR_SOMETHING_ELSE_ENTIRELY": "1"}) == ServerConfig()
    with pytest.raises(ConfigError, match="unknown setting 'bogus'"):
        load_config(env={"ASR_ENGINE_BOGUS": "1"})


def test_a_typo_of_a_server_key_in_the_environment_is_refused() -> None:
    # other tools' ASR_ variables stay ignored; one a letter away from a server key is a typo
    assert load_config(env={"ASR_ANNOTATOR_PASSWORD": "x", "ASR_WEBHOOK_SECRET": "y"}) == ServerConfig()
    with pytest.raises(ConfigError, match="ASR_MAX_CLIPS_S: unknown setting 'max_clips_s'; did you mean ASR_MAX_CLIP_"):
        load_config(env={"ASR_MAX_CLIPS_S": "5"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ASR_BUDGET_MS": "inf"}, r"budget_ms: inf is out of range"),
        ({"ASR_BUDGET_MS": "nan"}, r"budget_ms: nan is out of range"),
        ({"ASR_DRAIN_TIMEOUT_S": "inf"}, r"drain_timeout_s: inf is out of range"),  # would ignore SIGTERM
        ({"ASR_MAX_CONCURRENT_REQUESTS": "1000000000"}, r"max_concurrent_requests: 1000000000 is out of range"),
        ({"ASR_STREAM_IDLE_TIMEOUT_S": "0"}, r"stream_idle_timeout_s: 0.0 is out of range"),
        ({"ASR_ENGINE_COMPUTE_TYPE": "int9"}, r"engine.compute_type: 'int9' is out of range"),  # before the model loads
    ],
)
def test_values_that_cannot_work_are_refused_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


def test_a_config_file_that_is_not_utf8_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_bytes(b"[server]\nhost = \"caf\xe9\"\n")
    with pytest.raises(ConfigError, match=r"server.toml: not UTF-8 text"):
        load_config(path, env={})


def test_decoder_auto_follows_the_device() -> None:
    assert load_config(env={}).engine.decoder == "onnxruntime"
    assert load_config(env={"ASR_ENGINE_DEVICE": "cuda"}).engine.decoder == "ctranslate2"
    assert load_config(env={"ASR_ENGINE_DEVICE": "auto"}).engine.decoder == "ctranslate2"
    assert load_config(env={"ASR_ENGINE_DECODER": "ctranslate2"}).engine.decoder == "ctranslate2"


def test_onnxruntime_decoder_off_the_cpu_is_refused_at_config_time() -> None:
    with pytest.raises(ConfigError, match=r"engine\.decoder.*'ctranslate2' or 'auto' when engine\.device is 'cuda'"):
        load_config(env={"ASR_ENGINE_DEVICE": "cuda", "ASR_ENGINE_DECODER": "onnxruntime"})


def test_solo_threads_checked() -> None:
    import os

    cores = os.cpu_count() or 1
    with pytest.raises(ConfigError, match=r"engine\.solo_threads"):
        load_config(env={"ASR_ENGINE_SOLO_THREADS": "-1"})
    with pytest.raises(ConfigError, match=rf"engine\.solo_threads.*<= {cores}"):
        load_config(env={"ASR_ENGINE_SOLO_THREADS": str(cores + 1)})
    assert load_config(env={"ASR_ENGINE_SOLO_THREADS": "1"}).engine.solo_threads == 1


def test_monitoring_section_from_file_env_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "asr.toml"
    path.write_text('[monitoring]\nwindow_s = 120\nalarm_null_rate_max = 0.1\nbaseline_path = "b.json"\n',
                    encoding="utf-8")
    config = load_config(path, env={"ASR_MONITORING_WINDOW_S": "30", "ASR_HTTP_PORT": "9464"},
                         overrides={"monitoring.drift_min_clips": 50, "monitoring.baseline_path": None})
    assert config.monitoring == MonitoringOptions(window_s=30.0, alarm_null_rate_max=0.1, baseline_path="b.json",
                                                  drift_min_clips=50)
    assert config.http_port == 9464  # the HTTP port is the server's, not monitoring's


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[monitoring]\nwindow = 5\n", "[monitoring]: unknown setting 'window'"),
        ("[monitoring]\nwindow_s = 0\n", "monitoring.window_s: 0.0 is out of range"),
        ("[monitoring]\ndrift_min_clips = 300\n", "monitoring.drift_min_clips: 300 is out of range (allowed: 1..drift"),
        ("[server]\nmonitor_window_s = 60\n", "unknown setting 'monitor_window_s'"),
        ("[server]\nmonitoring = 1\n", "unknown setting 'monitoring'"),
        ("monitoring = 1\n", "monitoring must be a table"),
    ],
)
def test_bad_monitoring_setting_names_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(".", r"\.")):
        load_config(path, env={})


def test_unknown_section_in_a_flag_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown section 'monitor'"):
        load_config(env={}, overrides={"monitor.window_s": 5})
