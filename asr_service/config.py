"""The server's one config object, built at the entry point from a TOML file, the environment and flags.

Precedence, lowest first: defaults < TOML file < environment < command-line flags.

One section per concern, each a frozen dataclass validated when built (every key optional)::

    [server]          # ServerConfig: the port, request limits, the budget, shutdown
    host = "127.0.0.1"
    port = 50051
    max_clip_s = 30.0
    budget_ms = 300.0

    [engine]          # EngineOptions: the model and how it runs
    model = "tiny.en"
    num_workers = 2  # 0 (the default) = one per core

    [monitoring]      # MonitoringOptions: alarm windows and limits, drift
    baseline_path = "baseline.json"
    window_s = 60.0

    [request_log]     # RequestLogOptions: consented request logging
    dir = "/var/lib/asr/log"

    [deployment]      # DeploymentOptions: several models, canary, shadow, blue/green
    state_file = "/var/lib/asr/deployment.json"

Environment: `ASR_<KEY>` for `[server]` keys (e.g. `ASR_PORT=6000`), `ASR_ENGINE_<KEY>` for `[engine]`
keys (e.g. `ASR_ENGINE_MODEL=/models/small.en`), `ASR_MONITORING_<KEY>` for `[monitoring]` keys and
`ASR_REQUEST_LOG_<KEY>` for `[request_log]` keys, `ASR_DEPLOYMENT_<KEY>` for `[deployment]` keys. Flags
override `<key>`, `engine.<key>`, `monitoring.<key>`, `request_log.<key>` or `deployment.<key>`. Unknown keys
are errors, not ignored:
a typo in a config file must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr_service.audio import ClipLimits
from asr_service.engines.base import EngineOptions
from asr_service.errors import ConfigError
from asr_service.tls import CertificateFiles

__all__ = ["DEFAULT_BUDGET_MS", "DEFAULT_SAMPLE_RATES_HZ", "DeploymentOptions", "MonitoringOptions",
           "RequestLogOptions", "ServerConfig", "load_config"]

DEFAULT_BUDGET_MS = 300.0  # the service's latency budget per clip, server time
DEFAULT_SAMPLE_RATES_HZ = (8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
_MAX_CONCURRENT = 1024  # requests admitted at once; far past what any host's cores transcribe in a budget


@dataclass(frozen=True, kw_only=True)
class MonitoringOptions:
    """The `[monitoring]` section: alarm windows and thresholds, drift (asr_service.monitoring, docs/monitoring.md).

    Alarms look at the last `window_s`, re-evaluated every `interval_s`; ratio alarms clear below
    threshold x `alarm_clear_ratio`, volume alarms `alarm_volume_hysteresis_db` inside the band; an
    alarm changes state only once its condition has held for `alarm_hold_s`. Limits left unset are
    derived from the drift baseline when one is loaded (docs/monitoring.md, "Limits from the baseline").
    """

    baseline_path: str | None = None  # drift baseline from `asr monitor baseline`; None: no drift checks
    window_s: float = 60.0
    interval_s: float = 2.0
    load_window_s: float = 10.0
    alarm_min_requests: int = 20
    # An alarm changes state only when its condition has held this long (5 ticks): one busy or quiet
    # window edge cannot flap it (bench/bench_alarms.py --split tune: transitions on clean traffic).
    alarm_hold_s: float = 10.0
    # None: the baseline's null rate (the shared speech's, 0.047, without a baseline) plus
    # alarm_margin_z standard errors of the difference between a window of n results and the baseline.
    alarm_null_rate_max: float | None = None
    # How far past the baseline a window's share or mean must be, in standard errors of the difference
    # (window size and baseline size both count): chosen on the tune split of the shared speech
    # (bench/bench_alarms.py --split tune), where 3.5 made no transition on clean traffic.
    alarm_margin_z: float = 3.5
    alarm_latency_p95_max_ms: float | None = None  # None: the server's budget_ms
    # The latency alarm judges clips up to this long: the budget is for them. On the tune split of the
    # shared speech, clips up to 12 s had p95 149 ms and those of 15-20 s 375 ms (bench/bench_alarms.py).
    alarm_latency_max_clip_s: float = 12.0
    # A result with text under this confidence is "low confidence"; None: the baseline's 10th percentile
    # (the low-confidence alarms need a baseline built with the model).
    alarm_low_confidence: float | None = None
    # `no_traffic` fires when a window has no result though the server answered some in this many seconds
    # before it (at most 1800, what the server remembers).
    alarm_no_traffic_lookback_s: float = 600.0
    # A fixed limit for the share of users' feedback that was "retried" or "switched to typing"; None:
    # judged against the same server's earlier traffic (the lookback above), alarm_margin_z past it.
    alarm_feedback_share_max: float | None = None
    alarm_volume_min_dbfs: float = -40.0
    alarm_volume_max_dbfs: float = -6.0
    alarm_load_max: float = 0.91
    alarm_empty_input_max: float = 0.05
    alarm_clear_ratio: float = 0.8
    alarm_volume_hysteresis_db: float = 3.0
    drift_window_clips: int = 200
    drift_min_clips: int = 100
    # A null result on a clip whose client VAD speech ratio is at least this counts as "null on
    # speech" (the VAD and the model disagree): 0.53 is the 5th percentile of the speech ratio of the
    # default VAD's 40 clips on the tune half of the shared speech (`vad.Clip.stats.speech_ratio`).
    null_on_speech_min_ratio: float = 0.53

    def __post_init__(self) -> None:
        check = _checker("monitoring.")
        check(1 <= self.window_s <= 86_400, "window_s", self.window_s, "1..86400 s")
        check(0.05 <= self.interval_s <= 600, "interval_s", self.interval_s, "0.05..600 s")
        check(0.1 <= self.load_window_s <= 3600, "load_window_s", self.load_window_s, "0.1..3600 s")
        check(self.alarm_min_requests >= 1, "alarm_min_requests", self.alarm_min_requests, ">= 1")
        for name in ("alarm_null_rate_max", "alarm_empty_input_max", "alarm_load_max", "alarm_feedback_share_max"):
            value = getattr(self, name)
            check(value is None or 0 < value <= 1, name, value, "(0, 1]")
        check(0 <= self.alarm_hold_s <= 3600, "alarm_hold_s", self.alarm_hold_s, "0..3600 s")
        check(0 < self.alarm_margin_z <= 10, "alarm_margin_z", self.alarm_margin_z, "(0, 10]")
        check(0 < self.alarm_latency_max_clip_s <= 3600, "alarm_latency_max_clip_s", self.alarm_latency_max_clip_s,
              "(0, 3600] s")
        check(self.alarm_low_confidence is None or 0 < self.alarm_low_confidence < 1, "alarm_low_confidence",
              self.alarm_low_confidence, "(0, 1), or unset for the baseline's 10th percentile")
        check(self.window_s <= self.alarm_no_traffic_lookback_s <= 1800, "alarm_no_traffic_lookback_s",
              self.alarm_no_traffic_lookback_s, f"window_s ({self.window_s:g})..1800 s")
        check(0 < self.alarm_clear_ratio <= 1, "alarm_clear_ratio", self.alarm_clear_ratio, "(0, 1]")
        check(0 <= self.null_on_speech_min_ratio <= 1, "null_on_speech_min_ratio", self.null_on_speech_min_ratio,
              "0..1")
        check(
            self.alarm_volume_min_dbfs < self.alarm_volume_max_dbfs <= 0,
            "alarm_volume_min_dbfs/alarm_volume_max_dbfs",
            (self.alarm_volume_min_dbfs, self.alarm_volume_max_dbfs),
            "min < max <= 0 dBFS",
        )
        hysteresis_db = self.alarm_volume_hysteresis_db
        check(hysteresis_db >= 0, "alarm_volume_hysteresis_db", hysteresis_db, ">= 0 dB")
        check(
            self.alarm_latency_p95_max_ms is None or self.alarm_latency_p95_max_ms > 0,
            "alarm_latency_p95_max_ms",
            self.alarm_latency_p95_max_ms,
            "> 0 ms, or unset for the server's budget_ms",
        )
        check(10 <= self.drift_window_clips <= 100_000, "drift_window_clips", self.drift_window_clips, "10..100000")
        check(
            1 <= self.drift_min_clips <= self.drift_window_clips,
            "drift_min_clips",
            self.drift_min_clips,
            f"1..drift_window_clips ({self.drift_window_clips})",
        )


@dataclass(frozen=True, kw_only=True)
class RequestLogOptions:
    """The `[request_log]` section: consented request logging (asr_service/request_log, docs/feedback-loop.md).

    Only requests whose client consented are ever considered (`RecognitionConfig.logging_consent`); of
    those, a result is kept when its confidence is under `sample_below_confidence`, when it has no text
    (`sample_nulls`), or by chance (`sample_share` of the rest).
    """

    dir: str | None = None  # the log store; None: nothing is logged, whatever clients consent to
    # The 10th percentile of confidence of the default VAD's clips on the tune split of the shared speech
    # (bench/bench_alarms.py): about one clean result in ten, and most results of degraded input.
    sample_below_confidence: float = 0.42
    sample_nulls: bool = True
    sample_share: float = 0.05
    queue_size: int = 1000  # rows waiting for the writer; a full queue drops (and counts) the new row
    max_bytes: int = 1_000_000_000  # the whole store; past it the oldest days go, then logging pauses
    retention_days: float = 30.0
    redact: bool = False  # e-mail addresses and phone numbers written in digits, in stored texts only
    fsync: bool = True  # each batch reaches the disk before the next: a crash loses only rows in flight

    def __post_init__(self) -> None:
        check = _checker("request_log.")
        check(0 <= self.sample_below_confidence <= 1, "sample_below_confidence", self.sample_below_confidence,
              "0..1")
        check(0 <= self.sample_share <= 1, "sample_share", self.sample_share, "0..1")
        check(1 <= self.queue_size <= 1_000_000, "queue_size", self.queue_size, "1..1000000")
        check(1_000_000 <= self.max_bytes <= 10**13, "max_bytes", self.max_bytes, "1 MB..10 TB")
        check(0 < self.retention_days <= 3650, "retention_days", self.retention_days, "(0, 3650] days")


@dataclass(frozen=True, kw_only=True)
class DeploymentOptions:
    """The `[deployment]` section: several models in one server, and how default traffic moves between
    them (asr_service/deployment, docs/deployment.md)."""

    # Where the deployment state (models, primary, canary, shadow) is kept, so that a restarted server
    # comes back as it was; None: not kept (a restart serves `engine.model` alone).
    state_file: str | None = None
    # Models loaded at start beside engine.model, as standby: "SOURCE" or "ID=SOURCE" (SOURCE: "tiny.en",
    # "base", a CTranslate2 Whisper directory). Ignored when a state file has a state.
    models: tuple[str, ...] = ()
    # Faults injected into a model named in `models`, to rehearse a bad rollout: "ID:latency_ms=400,empty_rate=0.3".
    faults: tuple[str, ...] = ()
    # The canary's ramp: percent of default traffic at each step; a step moves on once the canary has
    # answered `canary_step_requests` requests in it and `canary_step_s` seconds have passed; past the
    # last (100) the canary is promoted.
    canary_steps: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)
    canary_step_requests: int = 100
    canary_step_s: float = 60.0
    # The guards compare the last `guard_window` requests of each side once both have `guard_min_requests`;
    # the canary is rolled back when it is worse than the primary beyond chance at the one-sided level a
    # normal z of `guard_z` gives (4.0: p < 3.2e-5; asr_service/deployment/_guards.py). Chosen with
    # bench/bench_rollout.py on the tune split of the shared speech: 100 healthy canaries of 1,000 requests at
    # 10 % each, 1 rolled back at 3.5 and 0 at 4.0, while every faulty one (30 % empty, +400 ms) was rolled
    # back within 35 canary requests (docs/deployment.md).
    guard_window: int = 300
    guard_min_requests: int = 30
    guard_z: float = 4.0
    # Share of the primary's clips also sent to the shadow (when one is set), each only if a worker is free.
    shadow_sample: float = 1.0
    # Admin calls (the /api/deploy endpoints of the HTTP port): without auth tokens they are answered only
    # for clients on loopback; true answers them from anywhere (behind your own network policy).
    admin_remote: bool = False

    def __post_init__(self) -> None:
        check = _checker("deployment.")
        steps = self.canary_steps
        check(bool(steps) and all(0 < s <= 100 for s in steps) and list(steps) == sorted(set(steps))
              and steps[-1] == 100, "canary_steps", steps, "increasing percents in (0, 100], ending at 100")
        check(1 <= self.canary_step_requests <= 1_000_000, "canary_step_requests", self.canary_step_requests,
              "1..1000000")
        check(0 <= self.canary_step_s <= 86_400, "canary_step_s", self.canary_step_s, "0..86400 s")
        check(10 <= self.guard_window <= 100_000, "guard_window", self.guard_window, "10..100000")
        check(2 <= self.guard_min_requests <= self.guard_window, "guard_min_requests", self.guard_min_requests,
              f"2..guard_window ({self.guard_window})")
        check(1 <= self.guard_z <= 10, "guard_z", self.guard_z, "1..10")
        check(0 <= self.shadow_sample <= 1, "shadow_sample", self.shadow_sample, "0..1")
        named = {item.partition("=")[0].strip() for item in self.models if "=" in item}
        for item in self.faults:
            model_id, sep, _ = item.partition(":")
            check(bool(sep) and model_id.strip() in named, "faults", item,
                  "'ID:KEY=VALUE,...' for a model listed as 'ID=SOURCE' in deployment.models")


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Everything the server needs to know, validated once, passed down."""

    host: str = "127.0.0.1"
    port: int = 50051  # 0 picks a free port
    engine: EngineOptions = field(default_factory=EngineOptions)
    # Limits on what a request may carry.
    max_clip_s: float = 30.0
    sample_rates_hz: tuple[int, ...] = DEFAULT_SAMPLE_RATES_HZ
    max_channels: int = 2
    # Admission control: requests being transcribed or waiting for a worker. Past it, new
    # requests get RESOURCE_EXHAUSTED at once instead of queueing into a blown budget.
    max_concurrent_requests: int = 8
    # ... and, with "budget", a clip that would be answered later than budget_ms x admission_headroom
    # (its wait behind the clips in flight, from the recent inference time) is refused at once too.
    admission: str = "budget"
    admission_headroom: float = 0.8
    budget_ms: float = DEFAULT_BUDGET_MS
    # Clips whose RMS is below this are not sent to the model (null_reason TOO_QUIET).
    volume_floor_dbfs: float = -60.0
    # On shutdown, health says NOT_SERVING (and new requests get UNAVAILABLE) this long before the
    # port closes, so that load balancers and clients watching health move away first.
    shutdown_notice_s: float = 1.0
    drain_timeout_s: float = 10.0
    # Streaming sessions: condition each clip on the text of the clips before it (Whisper's
    # previous-text prompt; the engine keeps its last `DecodeOptions.max_context_tokens` = 64 tokens),
    # clearing it after a result below `session_context_min_confidence` (or a fallback or a suppressed
    # hallucination). Off by default: on the tune half of the shared speech it moved WER by one or two
    # words either way (bench/bench_vad_path.py --split tune; docs/vad-path.md): no clear gain.
    session_context: bool = False
    session_context_min_confidence: float = 0.5
    # Streaming sessions that ask for them (`RecognitionConfig.revisions`): a second pass over blocks of
    # consecutive clips of at most `revision_window_s`, heard together, in the background, sent as
    # `Revision`s (asr_service/revisions.py). 20 s: blocks of 20 s scored better than 15 s on the tune half
    # of the shared speech (bench/bench_vad_path.py --paths joint; docs/vad-path.md); 30 s windows end early.
    session_revisions: bool = True
    revision_window_s: float = 20.0
    # TLS on both ports from PEM files, read again when they change (asr_service/tls.py); with a client
    # CA, mutual TLS. Without TLS the server listens only on loopback unless allow_plaintext_remote.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    allow_plaintext_remote: bool = False
    # Bearer tokens with scopes (asr_service/auth.py): unset, anyone who reaches the port is served.
    auth_tokens_file: str | None = None
    # Per client, when tokens name the clients (asr_service/server/_quotas.py): clips in flight (0: half
    # of max_concurrent_requests) and clips a second (0: no limit).
    client_max_concurrent: int = 0
    client_max_clips_per_s: float = 0.0
    # A connection that has not finished its HTTP/2 (and TLS) handshake by then is closed: raw sockets
    # that say nothing hold a file descriptor each (gRPC's own default is 120 s).
    connection_handshake_timeout_s: float = 10.0
    # Every this many seconds, memory the process has freed goes back to the OS (glibc's malloc_trim, off
    # the event loop; 0: never). Without it, 20,000 raw connections left RSS 207 MB up after they closed;
    # one trim took 4-44 ms on that heap (docs/security.md, "Connection flood").
    memory_trim_interval_s: float = 60.0
    # What a client may send (asr_service/server/_limits.py): ids, and streams that go quiet or run on.
    # A live client sends nothing between utterances, so the idle limit is a long pause, not a gap.
    max_id_chars: int = 128
    stream_first_message_timeout_s: float = 10.0
    stream_idle_timeout_s: float = 300.0
    stream_max_duration_s: float = 14_400.0
    stream_max_clips: int = 20_000
    # A clip a client retries (same request id, clip id and bytes, same client) within dedup_ttl_s is answered
    # from a cache of the last dedup_max_entries answers, not transcribed twice (server/_dedup.py); 0: off.
    dedup_max_entries: int = 4096
    dedup_ttl_s: float = 60.0
    log_level: str = "INFO"
    # HTTP port beside gRPC, for /metrics, the dashboard and /api/*: None serves no HTTP, 0 picks a free port.
    http_port: int | None = None
    # gRPC-Web on the HTTP port (asr_service/server/_grpc_web.py, docs/browser.md): the unary methods,
    # through the same interceptors and servicer as native gRPC; and the browser client at /app/.
    grpc_web: bool = True
    # Origins of pages served elsewhere that may call gRPC-Web (CORS), e.g. "https://app.example.com";
    # "*" allows any. Empty: only pages of the HTTP port's own origin (e.g. /app/).
    grpc_web_allowed_origins: tuple[str, ...] = ()
    monitoring: MonitoringOptions = field(default_factory=MonitoringOptions)
    request_log: RequestLogOptions = field(default_factory=RequestLogOptions)
    deployment: DeploymentOptions = field(default_factory=DeploymentOptions)

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, "port", self.port, "0..65535")
        _check(0 < self.max_clip_s <= 600, "max_clip_s", self.max_clip_s, "(0, 600] seconds")
        _check(
            len(self.sample_rates_hz) > 0 and all(4000 <= r <= 192_000 for r in self.sample_rates_hz),
            "sample_rates_hz",
            self.sample_rates_hz,
            "a non-empty list of rates in 4000..192000 Hz",
        )
        _check(1 <= self.max_channels <= 8, "max_channels", self.max_channels, "1..8")
        _check(
            1 <= self.max_concurrent_requests <= _MAX_CONCURRENT,
            "max_concurrent_requests",
            self.max_concurrent_requests,
            f"1..{_MAX_CONCURRENT}",
        )
        # finite, and in reach: `inf` would turn the budget and the drain into "never" (a server that
        # ignores SIGTERM until it is killed)
        _check(0 < self.budget_ms <= 60_000, "budget_ms", self.budget_ms, "(0, 60000] ms")
        _check(self.admission in ("budget", "count"), "admission", self.admission, "'budget' or 'count'")
        _check(0.1 <= self.admission_headroom <= 10, "admission_headroom", self.admission_headroom, "0.1..10")
        _check(-150 <= self.volume_floor_dbfs <= 0, "volume_floor_dbfs", self.volume_floor_dbfs, "-150..0")
        _check(0 <= self.drain_timeout_s <= 3600, "drain_timeout_s", self.drain_timeout_s, "0..3600 s")
        _check(0 <= self.session_context_min_confidence <= 1, "session_context_min_confidence",
               self.session_context_min_confidence, "0..1")
        _check(1 <= self.revision_window_s <= 30, "revision_window_s", self.revision_window_s,
               "1..30 (seconds of audio; the model hears 30 s at most)")
        _check(self.http_port is None or 0 <= self.http_port <= 65535, "http_port", self.http_port, "0..65535")
        _check(all(_is_origin(origin) for origin in self.grpc_web_allowed_origins), "grpc_web_allowed_origins",
               self.grpc_web_allowed_origins, 'origins such as "https://app.example.com" (scheme://host[:port], no '
               'path), or "*"')
        _check(0 <= self.shutdown_notice_s <= 60, "shutdown_notice_s", self.shutdown_notice_s, "0..60 s")
        _check(16 <= self.max_id_chars <= 4096, "max_id_chars", self.max_id_chars, "16..4096")
        _check(0.1 <= self.connection_handshake_timeout_s <= 600, "connection_handshake_timeout_s",
               self.connection_handshake_timeout_s, "0.1..600 s")
        _check(self.memory_trim_interval_s == 0 or 1 <= self.memory_trim_interval_s <= 86_400,
               "memory_trim_interval_s", self.memory_trim_interval_s, "0 (off) or 1..86400 s")
        _check(0 <= self.client_max_concurrent <= self.max_concurrent_requests, "client_max_concurrent",
               self.client_max_concurrent, f"0..max_concurrent_requests ({self.max_concurrent_requests})")
        _check(0 <= self.client_max_clips_per_s <= 100_000, "client_max_clips_per_s", self.client_max_clips_per_s,
               "0..100000 (0: no limit)")
        _check((self.tls_cert_file is None) == (self.tls_key_file is None), "tls_cert_file/tls_key_file",
               (self.tls_cert_file, self.tls_key_file), "both set, or neither")
        _check(self.tls_client_ca_file is None or self.tls_cert_file is not None, "tls_client_ca_file",
               self.tls_client_ca_file, "unset, unless tls_cert_file and tls_key_file are set")
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file", "auth_tokens_file"):
            path = getattr(self, name)
            _check(path is None or os.path.isfile(path), name, path, "a readable file")
        _check(self.tls is not None or self.allow_plaintext_remote or _is_loopback(self.host), "host", self.host,
               "a loopback address without TLS: set tls_cert_file and tls_key_file, or allow_plaintext_remote = "
               "true when something in front (a mesh, a proxy) encrypts the traffic")
        _check(0 < self.stream_first_message_timeout_s <= 3600, "stream_first_message_timeout_s",
               self.stream_first_message_timeout_s, "(0, 3600] s")
        _check(0 < self.stream_idle_timeout_s <= 86_400, "stream_idle_timeout_s", self.stream_idle_timeout_s,
               "(0, 86400] s")
        _check(0 < self.stream_max_duration_s <= 7 * 86_400, "stream_max_duration_s", self.stream_max_duration_s,
               "(0, 604800] s")
        _check(1 <= self.stream_max_clips <= 10_000_000, "stream_max_clips", self.stream_max_clips, "1..10000000")
        _check(0 <= self.dedup_max_entries <= 1_000_000, "dedup_max_entries", self.dedup_max_entries,
               "0..1000000 (0: off)")
        _check(0 < self.dedup_ttl_s <= 3600, "dedup_ttl_s", self.dedup_ttl_s, "(0, 3600] s")
        _check(
            self.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
            "log_level",
            self.log_level,
            "DEBUG, INFO, WARNING or ERROR",
        )

    @property
    def client_concurrency(self) -> int:
        """Clips one client may have in flight: `client_max_concurrent`, or half the server's."""
        return self.client_max_concurrent or max(1, self.max_concurrent_requests // 2)

    @property
    def tls(self) -> CertificateFiles | None:
        """The TLS certificate files, or None for plain text."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        return CertificateFiles(cert=self.tls_cert_file, key=self.tls_key_file, client_ca=self.tls_client_ca_file)

    @property
    def max_message_bytes(self) -> int:
        """The largest request message worth receiving: a whole clip of `max_clip_s` at the highest
        accepted rate and channel count in LINEAR16, plus room for the rest of the message."""
        return int(self.max_clip_s * max(self.sample_rates_hz) * self.max_channels * 2) + 64 * 1024

    @property
    def clip_limits(self) -> ClipLimits:
        """The limits a clip is checked against."""
        return ClipLimits(
            accepted_rates_hz=self.sample_rates_hz, max_channels=self.max_channels, max_clip_s=self.max_clip_s
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_origin(origin: str) -> bool:
    """A CORS origin as browsers send it: "*", or scheme://host[:port] with no path."""
    return origin == "*" or re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin) is not None


def _check(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError.out_of_range(name, value, allowed)


def _checker(prefix: str) -> Callable[[bool, str, object, str], None]:
    """`_check` for a section's fields, named `<prefix><field>` in messages."""
    return lambda ok, name, value, allowed: _check(ok, prefix + name, value, allowed)


# TOML section -> (its dataclass, the ServerConfig field that holds it; None: ServerConfig itself)
_SECTIONS: dict[str, tuple[type, str | None]] = {
    "server": (ServerConfig, None),
    "engine": (EngineOptions, "engine"),
    "monitoring": (MonitoringOptions, "monitoring"),
    "request_log": (RequestLogOptions, "request_log"),
    "deployment": (DeploymentOptions, "deployment"),
}
_NESTED = frozenset(field for _, field in _SECTIONS.values() if field)


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Build a `ServerConfig` from a TOML file, the environment and flag overrides.

    `overrides` uses the `[server]` key names, and `engine.<key>` / `monitoring.<key>` for the other
    sections' keys; values that are None are ignored (an unset flag).
    """
    values: dict[str, dict[str, Any]] = {section: {} for section in _SECTIONS}
    if path is not None:
        _merge_file(Path(path), values)
    _merge_env(os.environ if env is None else env, values)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, name = key.rpartition(".")
        _set(values, section or "server", name, value, where="option")
    server = values.pop("server")
    try:
        for section, settings in values.items():
            cls, field_name = _SECTIONS[section]
            server[str(field_name)] = cls(**settings)
        return ServerConfig(**server)
    except TypeError as exc:  # only reachable through a bug in the key checks above
        raise ConfigError(str(exc)) from exc


def _set(values: dict[str, dict[str, Any]], section: str, key: str, value: Any, *, where: str) -> None:
    if section not in _SECTIONS:
        raise ConfigError(f"{where}: unknown section {section!r} (known: {', '.join(_SECTIONS)})")
    values[section][key] = _coerce(_SECTIONS[section][0], key, value, where=where)


def _merge_file(path: Path, values: dict[str, dict[str, Any]]) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                          "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from exc
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"config file {path}: unknown section(s) {sorted(unknown)} (known: {', '.join(_SECTIONS)})")
    for section, settings in data.items():
        if not isinstance(settings, dict):
            raise ConfigError(f"config file {path}: {section} must be a table ([{section}])")
        for key, value in settings.items():
            _set(values, section, key, value, where=f"{path} [{section}]")


def _merge_env(env: Mapping[str, str], values: dict[str, dict[str, Any]]) -> None:
    prefixes = [(f"ASR_{section.upper()}_", section) for section in _SECTIONS if section != "server"]
    for name, value in env.items():
        section = next((s for prefix, s in prefixes if name.startswith(prefix)), None)
        if section is not None:
            key = name.removeprefix(f"ASR_{section.upper()}_").lower()
            _set(values, section, key, value, where=f"environment {name}")
        elif name.startswith("ASR_"):
            key = name.removeprefix("ASR_").lower()
            server_keys = _field_types(ServerConfig)
            if key in server_keys:
                _set(values, "server", key, value, where=f"environment {name}")
                continue
            # Other ASR_ variables belong to other tools (ASR_ANNOTATOR_PASSWORD ...); one that is a
            # typo of a server key (ASR_MAX_CLIPS_S) must not be silently ignored.
            close = difflib.get_close_matches(key, server_keys, n=1, cutoff=0.85)
            if close:
                raise ConfigError(f"environment {name}: unknown setting {key!r}; did you mean "
                                  f"ASR_{close[0].upper()}?")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    nested = _NESTED if cls is ServerConfig else frozenset()  # sections are set by their own keys
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in nested}


def _coerce(cls: type, key: str, value: Any, *, where: str = "option") -> Any:
    """Check that `key` exists on `cls` and turn `value` (maybe a string) into the field's type."""
    types_ = _field_types(cls)
    if key not in types_:
        raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(types_))})")
    hint = types_[key]
    try:
        return _convert(hint, value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {key} = {value!r} is not a valid {_type_name(hint)}") from exc


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise TypeError("expected a list")
        return tuple(_convert(item, v) for v in items)
    if origin in (typing.Union, types.UnionType):
        if value in (None, "", "none", "None"):
            return None
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(args[0], value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"1", "true", "yes", "on"}:
            return True
        if str(value).lower() in {"0", "false", "no", "off"}:
            return False
        raise ValueError("not a boolean")
    if hint is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise TypeError("not an integer")
        return int(value)
    if hint is float:
        if isinstance(value, bool):
            raise TypeError("not a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError("not a string")
        return value
    raise TypeError(f"unsupported type {hint}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))
