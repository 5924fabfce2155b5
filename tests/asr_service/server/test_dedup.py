"""A retried clip is transcribed once: the server's cache of answers (server/_dedup.py), and the client's
retries that rely on it (same request id and clip id; a stalled stream resumed under its request id)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from asr_service.auth import hash_token
from asr_service.client import AsrClient
from asr_service.client._remote import _Backoff
from asr_service.config import ServerConfig
from asr_service.errors import ConfigError
from asr_service.server import BackgroundServer
from asr_service.server._dedup import ResultCache, StreamKeys, key_of, next_index
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.fakes import FakeClock, FakeEngine, GatedEngine, tone_bytes, tone_clips

AUDIO = tone_bytes(0.5, 0.3)
CONFIG = asr_pb2.RecognitionConfig(format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=16_000))


def _request(request_id: str = "req-1", clip_id: str = "c1", audio: bytes = AUDIO) -> asr_pb2.RecognizeRequest:
    return asr_pb2.RecognizeRequest(request_id=request_id, clip_id=clip_id, config=CONFIG, audio=audio)


# --- the cache alone --------------------------------------------------------------------------------------------

def _key(n: int = 0, identity: str = "") -> tuple[str, str, str, bytes]:
    return key_of(identity, f"r{n}", "c", b"config", b"audio")


def test_answers_are_kept_for_ttl_s_and_at_most_max_entries() -> None:
    clock = FakeClock()
    cache: ResultCache[str] = ResultCache(max_entries=2, ttl_s=10.0, clock=clock)

    async def scenario() -> None:
        for n in range(3):
            assert await cache.claim(_key(n), [].append) is None
            cache.store(_key(n), f"answer {n}")
        assert len(cache) == 2  # the oldest went
        assert await cache.claim(_key(0), [].append) is None
        assert await cache.claim(_key(2), [].append) == "answer 2"
        clock.now += 10.5
        assert await cache.claim(_key(2), [].append) is None  # expired
        assert len(cache) == 0

    asyncio.run(scenario())


def test_the_key_separates_clients_ids_audio_and_config() -> None:
    base = key_of("alice", "r", "c", b"config", b"audio")
    assert base == key_of("alice", "r", "c", b"config", b"audio")
    others = [key_of("bob", "r", "c", b"config", b"audio"), key_of(None, "r", "c", b"config", b"audio"),
              key_of("alice", "r2", "c", b"config", b"audio"), key_of("alice", "r", "c2", b"config", b"audio"),
              key_of("alice", "r", "c", b"config2", b"audio"), key_of("alice", "r", "c", b"config", b"audio2"),
              key_of("alice", "r", "c", b"configa", b"udio")]
    assert base not in others and len(set(others)) == len(others)


def test_a_duplicate_waits_for_the_first_and_a_failure_is_not_kept() -> None:
    cache: ResultCache[str] = ResultCache(max_entries=8, ttl_s=60.0)

    async def scenario() -> None:
        gate = asyncio.Event()
        runs = 0

        async def work(fail: bool) -> int:
            nonlocal runs
            runs += 1
            await gate.wait()
            if fail:
                raise RuntimeError("model failed")
            return 7

        first_done: list[object] = []
        assert await cache.claim(_key(), first_done.append) is None
        first = asyncio.create_task(cache.run(_key(), work(fail=True), lambda r: f"answer {r}"))
        second = asyncio.create_task(cache.claim(_key(), [].append))
        await asyncio.sleep(0.01)
        assert not second.done()  # waiting for the first, not running
        gate.set()
        with pytest.raises(RuntimeError):
            await first
        assert await second is None  # the first failed: the second runs it itself
        assert await cache.run(_key(), work(fail=False), lambda r: f"answer {r}") == 7
        assert await cache.claim(_key(), [].append) == "answer 7"
        assert runs == 2 and cache.hits == 1

    asyncio.run(scenario())


def test_the_first_run_goes_on_when_its_caller_goes_away() -> None:
    cache: ResultCache[str] = ResultCache(max_entries=8, ttl_s=60.0)

    async def scenario() -> None:
        gate = asyncio.Event()

        async def work() -> int:
            await gate.wait()
            return 1

        callbacks: list[object] = []
        assert await cache.claim(_key(), callbacks.append) is None
        caller = asyncio.create_task(cache.run(_key(), work(), lambda r: "kept"))
        await asyncio.sleep(0.01)
        caller.cancel()  # the client timed out
        for callback in callbacks:  # its call ended
            callback(None)  # type: ignore[operator]
        retry = asyncio.create_task(cache.claim(_key(), [].append))
        await asyncio.sleep(0.01)
        assert not retry.done()  # waits for the work its first attempt started
        gate.set()
        assert await retry == "kept"

    asyncio.run(scenario())


def test_a_claim_whose_call_ends_without_work_is_released() -> None:
    cache: ResultCache[str] = ResultCache(max_entries=8, ttl_s=60.0)

    async def scenario() -> None:
        callbacks: list[object] = []
        assert await cache.claim(_key(), callbacks.append) is None
        waiter = asyncio.create_task(cache.claim(_key(), [].append))
        await asyncio.sleep(0.01)
        callbacks[0](None)  # type: ignore[operator]  # refused before the model ran (a bad clip, a quota)
        assert await waiter is None

    asyncio.run(scenario())


def test_a_stream_key_used_twice_in_one_call_is_a_new_clip_and_one_callback_serves_the_call() -> None:
    registered: list[object] = []
    keys = StreamKeys(identity="alice", config=b"config", add_done_callback=registered.append)
    first = keys.key("s", "0", b"audio")
    assert first is not None and keys.key("s", "0", b"audio") is None  # a client reusing its clip id
    assert keys.key("s", "1", b"audio") is not None
    released: list[object] = []
    keys.on_done(released.append)
    keys.on_done(released.append)  # the next clip's claim replaces the last one's
    assert len(registered) == 1
    registered[0]("call")  # type: ignore[operator]
    assert released == ["call"]


def test_a_resumed_stream_numbers_its_results_after_the_cached_ones() -> None:
    answers = [asr_pb2.StreamingRecognizeResponse(result=asr_pb2.RecognitionResult(result_id=f"s/{i}"))
               for i in (0, 1, 4)] + [asr_pb2.RecognizeResponse(result=asr_pb2.RecognitionResult(result_id="s2/9"))]
    assert next_index(answers, "s") == 5
    assert next_index(answers, "other") == 0


def test_the_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="dedup_ttl_s"):
        ServerConfig(dedup_ttl_s=0)
    with pytest.raises(ConfigError, match="dedup_max_entries"):
        ServerConfig(dedup_max_entries=-1)


def test_backoff_is_jittered_and_honours_the_servers_hint() -> None:
    backoff = _Backoff()
    waits = [backoff.next_s() for _ in range(7)]
    assert 0.05 <= waits[0] <= 0.1 and all(1.0 <= w <= 2.0 for w in waits[5:])
    assert 0.25 <= backoff.next_s(250) <= 0.3


# --- through a server -----------------------------------------------------------------------------------------

@pytest.fixture()
def fake() -> FakeEngine:
    return FakeEngine(text="hello")


@pytest.fixture()
def server(fake: FakeEngine) -> Iterator[BackgroundServer]:
    running = BackgroundServer(ServerConfig(port=0, shutdown_notice_s=0.0), engine_factory=lambda _: fake).start()
    yield running
    running.stop(1.0)


def test_a_repeated_request_is_answered_from_the_cache(server: BackgroundServer, fake: FakeEngine) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = asr_pb2_grpc.RecognizerStub(channel)
        first = stub.Recognize(_request(), timeout=10)
        again = stub.Recognize(_request(), timeout=10)
        assert fake.calls == 1 and again == first  # the same answer, result id included
        stub.Recognize(_request(clip_id="c2"), timeout=10)  # another clip
        stub.Recognize(_request(audio=tone_bytes(0.6, 0.3)), timeout=10)  # other audio under the same ids
        stub.Recognize(asr_pb2.RecognizeRequest(clip_id="c1", config=CONFIG, audio=AUDIO), timeout=10)
        stub.Recognize(asr_pb2.RecognizeRequest(clip_id="c1", config=CONFIG, audio=AUDIO), timeout=10)  # no id
        assert fake.calls == 5


def test_a_refused_request_is_not_kept(server: BackgroundServer, fake: FakeEngine) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = asr_pb2_grpc.RecognizerStub(channel)
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as caught:
                stub.Recognize(_request(audio=b"\x00" * 3), timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert fake.calls == 0


def test_the_cache_can_be_turned_off(fake: FakeEngine) -> None:
    config = ServerConfig(port=0, shutdown_notice_s=0.0, dedup_max_entries=0)
    running = BackgroundServer(config, engine_factory=lambda _: fake).start()
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = asr_pb2_grpc.RecognizerStub(channel)
            assert stub.Recognize(_request(), timeout=10) != stub.Recognize(_request(), timeout=10)
        assert fake.calls == 2
    finally:
        running.stop(1.0)


def test_one_client_cannot_read_anothers_result(tmp_path: Path, fake: FakeEngine) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text("".join(f'[[token]]\nclient = "{name}"\nsha256 = "{hash_token(name + "-token")}"\n'
                              'scopes = ["recognize"]\n' for name in ("alice", "mallory")))
    config = ServerConfig(port=0, shutdown_notice_s=0.0, auth_tokens_file=str(tokens))
    running = BackgroundServer(config, engine_factory=lambda _: fake).start()
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = asr_pb2_grpc.RecognizerStub(channel)
            for name in ("alice", "mallory", "alice"):
                stub.Recognize(_request(), timeout=10, metadata=(("authorization", f"Bearer {name}-token"),))
        assert fake.calls == 2  # mallory's copy of alice's ids ran on its own; alice's repeat did not
    finally:
        running.stop(1.0)


def test_a_retry_after_a_client_timeout_gets_the_first_attempts_answer() -> None:
    engine = GatedEngine()
    running = BackgroundServer(ServerConfig(port=0, shutdown_notice_s=0.0),
                               engine_factory=lambda _: engine).start()
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = asr_pb2_grpc.RecognizerStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Recognize(_request(), timeout=0.5)  # the model is still at it
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert engine.started.acquire(timeout=5)
            answers: list[asr_pb2.RecognizeResponse] = []
            retries = [threading.Thread(target=lambda: answers.append(stub.Recognize(_request(), timeout=10)))
                       for _ in range(2)]  # the retry, and a concurrent duplicate of it
            for thread in retries:
                thread.start()
            assert not engine.started.acquire(timeout=0.5)  # neither started the model again
            engine.gate.set()
            for thread in retries:
                thread.join(10)
        assert [a.result.text for a in answers] == ["gated", "gated"] and answers[0] == answers[1]
        assert not engine.started.acquire(timeout=0.2)  # the model ran once in all
    finally:
        engine.gate.set()
        running.stop(1.0)


def test_a_stalled_stream_is_resumed_and_each_clip_transcribed_once() -> None:
    engine = GatedEngine()
    running = BackgroundServer(ServerConfig(port=0, shutdown_notice_s=0.0),
                               engine_factory=lambda _: engine).start()
    clips = tone_clips(3)
    try:
        with AsrClient(running.target, timeout_s=1.0, retries=3) as client:
            opened = threading.Timer(2.5, engine.gate.set)  # after the watchdog cancelled the first stream
            opened.start()
            results = list(client.stream(clips))
            opened.join()
        assert [r.clip_id for r in results] == ["0", "1", "2"]
        assert [r.result_id.rpartition("/")[0] for r in results] == [results[0].result_id.rpartition("/")[0]] * 3
        assert len({r.result_id for r in results}) == 3  # unique across the resume
        started = 0
        while engine.started.acquire(timeout=0.2):
            started += 1
        assert started == 3  # clip 0 ran once, though sent twice
    finally:
        engine.gate.set()
        running.stop(1.0)
