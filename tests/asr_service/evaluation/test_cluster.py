"""`--cluster`: transcribe-batch and eval on a Dask cluster give what the local pool gives, and fail in one line.

The speech tests start their clusters themselves, bounded: 2 worker processes of one thread each, on
loopback, stopped at the end. They need the `cluster` extra (Dask's distributed scheduler) and the
shared speech, and skip with the reason otherwise; the import and error tests need neither.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import vad
from asr_service.cli import main
from asr_service.config import ServerConfig
from asr_service.cores import usable_cores
from asr_service.evaluation import cluster
from tests.asr_service.evaluation.manifests import write_manifest
from tests.asr_service.test_imports import _top_level_modules_after
from tests.browser import free_port
from tests.paths import JFK_SAMPLE

CLUSTER_MODULES = {"dask", "distributed", "ray"}
NEEDS_DASK = "needs the cluster extra (Dask's distributed scheduler): pip install 'asr-service[cluster]'"
WORKERS = str(min(2, usable_cores()))  # as the pool runs it: one thread per worker
CONFIDENCE_TOLERANCE = 1e-3


def _dask() -> Any:
    return pytest.importorskip("distributed", reason=NEEDS_DASK)


def _rows(path: Path) -> dict[Path, dict[str, Any]]:
    """OUT's lines by the audio they name (resolved: OUT writes it relative to its folder)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {(path.parent / str(row["audio"])).resolve(): row for row in rows}


def _clips(clips: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["start_s"], c["end_s"], c["text"], c["null_reason"]) for c in clips]


def _assert_same_transcripts(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]]) -> None:
    """Clip for clip: boundaries, text and null reason equal, confidences within the tolerance."""
    assert got.keys() == want.keys()
    for key, expected in want.items():
        row = got[key]
        assert row["text"] == expected["text"], key
        assert _clips(row["clips"]) == _clips(expected["clips"]), key
        assert [c["confidence"] for c in row["clips"]] == pytest.approx(
            [c["confidence"] for c in expected["clips"]], abs=CONFIDENCE_TOLERANCE), key
        if expected.get("confidence") is None:
            assert row.get("confidence") is None, key
        else:
            assert row["confidence"] == pytest.approx(expected["confidence"], abs=CONFIDENCE_TOLERANCE), key


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The worker count of every cluster the CLI opens in this test, so that a test can tell it ran on one."""
    seen: list[int] = []
    real = cluster.open_cluster

    def spy(*args: Any, **kwargs: Any) -> cluster.ClusterFileTranscriber:
        on_cluster = real(*args, **kwargs)
        seen.append(on_cluster.workers)
        return on_cluster

    monkeypatch.setattr(cluster, "open_cluster", spy)
    return seen


# ---- without Dask or speech ----------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "import asr_service",
    "import asr_service.evaluation",
    "import asr_service.evaluation.cluster",
    "from asr_service.cli import build_parser; build_parser()",  # `asr --help`
])
def test_the_cluster_engine_stays_out_of_the_base_import_path(statement: str) -> None:
    loaded = _top_level_modules_after(statement) & CLUSTER_MODULES
    assert not loaded, f"{statement!r} loads {sorted(loaded)}"


def test_the_import_check_sees_dask_once_a_cluster_is_opened() -> None:
    _dask()
    statement = ("import vad; from asr_service.config import ServerConfig; from asr_service.evaluation.cluster "
                 "import WorkerSpec, open_cluster\ntry:\n    open_cluster('127.0.0.1:1', WorkerSpec(config="
                 "ServerConfig(), vad_options=vad.VadOptions()), connect_timeout_s=0.1)\nexcept Exception:\n    pass")
    assert {"dask", "distributed"} <= _top_level_modules_after(statement)


@pytest.mark.parametrize("command", ["transcribe-batch", "eval"])
def test_a_missing_dask_is_one_line_naming_the_extra(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` does where it is absent
    manifest = write_manifest(tmp_path / "m.jsonl", [{"audio": str(JFK_SAMPLE), "text": "and so"}])
    out = ["-o", str(tmp_path / "out.jsonl")] if command == "transcribe-batch" else ["--out", str(tmp_path / "e")]
    assert main([command, str(manifest), *out, "--cluster", "local", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("asr: error: --cluster needs Dask"), err
    assert err[0].endswith("pip install 'asr-service[cluster]'")
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "e").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--cluster", "local", "--server", "127.0.0.1:1"], "--cluster runs the model on the cluster's workers"),
    (["--cluster", "tcp://127.0.0.1:1", "--workers", "2"], "--workers sizes a local pool or --cluster local"),
    (["--cluster", "local", "--workers", "64", "--threads", "1"], "engine.num_workers * engine.cpu_threads"),
])
def test_cluster_flags_that_do_not_go_together_exit_2(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", [{"audio": str(JFK_SAMPLE), "text": "and so"}])
    assert main(["transcribe-batch", str(manifest), "-o", str(tmp_path / "o.jsonl"), *flags, "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_a_worker_model_runs_its_tasks_at_once_on_its_share_of_the_cores() -> None:
    spec = cluster.WorkerSpec(config=ServerConfig(), vad_options=vad.VadOptions())
    engine = spec.worker_config(nthreads=1, cores=1).engine
    assert (engine.num_workers, engine.cpu_threads, engine.solo_threads) == (1, 1, 1)
    pinned = cluster.WorkerSpec(config=ServerConfig(), vad_options=vad.VadOptions(), cpu_threads=1)
    engine = pinned.worker_config(nthreads=1, cores=usable_cores()).engine
    assert (engine.num_workers, engine.cpu_threads, engine.solo_threads) == (1, 1, 1)  # no solo encoder


def test_batch_hands_all_its_files_to_a_transcriber_that_runs_them_itself(tmp_path: Path) -> None:
    from asr_service.evaluation import FileTranscript, batch_items, run_batch
    from asr_service.evaluation.transcription import ManyFileTranscriber, Source

    class Elsewhere:
        def __init__(self) -> None:
            self.handed: list[list[Source]] = []

        def __call__(self, source: Source) -> FileTranscript:
            raise AssertionError("called file by file")

        def transcribe_many(self, sources: Sequence[Source]) -> Iterator[tuple[int, FileTranscript | vad.VadError]]:
            self.handed.append(list(sources))
            for i in reversed(range(len(sources))):  # in completion order, not the manifest's
                yield i, FileTranscript(text=f"file {i}", clips=())

    manifest = write_manifest(tmp_path / "m.jsonl", [{"audio": str(JFK_SAMPLE), "utt_id": str(i)} for i in range(3)])
    items, _ = batch_items(manifest)
    elsewhere = Elsewhere()
    assert isinstance(elsewhere, ManyFileTranscriber)
    summary = run_batch(items, tmp_path / "out.jsonl", elsewhere, workers=8)
    assert summary.transcribed == 3 and len(elsewhere.handed) == 1 and len(elsewhere.handed[0]) == 3
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["utt_id"], r["text"]) for r in written] == [("2", "file 2"), ("1", "file 1"), ("0", "file 0")]


# ---- with Dask, without speech -------------------------------------------------------------------




def test_an_unreachable_scheduler_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _dask()
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    manifest = write_manifest(tmp_path / "m.jsonl", [{"audio": str(JFK_SAMPLE), "text": "and so"}])
    address = f"tcp://127.0.0.1:{free_port()}"
    assert main(["eval", str(manifest), "--out", str(tmp_path / "e"), "--cluster", address, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"asr: error: cannot reach the Dask scheduler at {address} within 1 s")
    assert main(["eval", str(manifest), "--out", str(tmp_path / "e"), "--cluster", "no-port", "--no-progress"]) == 2
    assert "'no-port' is neither 'local' nor a scheduler address" in capsys.readouterr().err


def test_a_scheduler_without_workers_is_reported_not_waited_on() -> None:
    distributed = _dask()
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None,
                                  scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as empty:
        spec = cluster.WorkerSpec(config=ServerConfig(), vad_options=vad.VadOptions())
        with pytest.raises(cluster.ClusterError, match=r"has no workers \(waited 0.5 s\)"):
            cluster.open_cluster(empty.scheduler_address, spec, workers_timeout_s=0.5)


# ---- with Dask and the shared speech -------------------------------------------------------------


@pytest.fixture(scope="module")
def pool_batch(shared_speech: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """transcribe-batch of the whole shared speech on the local pool (today's path): the reference."""
    out = tmp_path_factory.mktemp("batch") / "pool.jsonl"
    assert main(["transcribe-batch", str(shared_speech / "manifest.jsonl"), "-o", str(out), "--workers", WORKERS,
                 "--threads", "1", "--no-progress"]) == 0
    return out


@pytest.fixture()
def scheduler_address() -> Iterator[str]:
    """A running cluster, as someone else would have started it: 2 workers on loopback, stopped after."""
    _dask()
    running = cluster.start_local_cluster(int(WORKERS))
    try:
        yield str(running.scheduler_address)
    finally:
        running.close()


@pytest.mark.slow
@pytest.mark.shared_data
def test_transcribe_batch_on_a_local_cluster_equals_the_pool_and_resumes(
    shared_speech: Path, pool_batch: Path, opened: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _dask()
    out = pool_batch.parent / "cluster.jsonl"  # beside the pool's, so that both write the same audio keys
    command = ["transcribe-batch", str(shared_speech / "manifest.jsonl"), "-o", str(out), "--cluster", "local",
               "--workers", WORKERS, "--no-progress"]
    assert main(command) == 0
    assert opened == [int(WORKERS)]
    want = _rows(pool_batch)
    assert len(want) == 66
    _assert_same_transcripts(_rows(out), want)
    capsys.readouterr()

    # interrupted: the last three files missing, the third-last half written
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:-3]) + lines[-3][:40], encoding="utf-8")
    assert main(command) == 0
    assert f"3 transcribed, {len(want) - 3} already in" in capsys.readouterr().err
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(want)
    _assert_same_transcripts(_rows(out), want)


@pytest.mark.slow
@pytest.mark.shared_data
def test_transcribe_batch_on_a_running_scheduler(
    shared_speech: Path, pool_batch: Path, scheduler_address: str, opened: list[int],
    tmp_path: Path,
) -> None:
    rows = [json.loads(line) for line in (shared_speech / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    subset = write_manifest(tmp_path / "subset.jsonl",
                            [{**row, "audio": str(shared_speech / row["audio"])} for row in rows[:12]])
    out = tmp_path / "remote.jsonl"
    assert main(["transcribe-batch", str(subset), "-o", str(out), "--cluster", scheduler_address, "--threads", "1",
                 "--no-progress"]) == 0
    assert opened == [int(WORKERS)]
    got = _rows(out)
    assert len(got) == 12
    _assert_same_transcripts(got, {key: row for key, row in _rows(pool_batch).items() if key in got})


@pytest.mark.slow
@pytest.mark.shared_data
def test_eval_on_a_local_cluster_scores_the_same_hypotheses(shared_speech: Path, tmp_path: Path) -> None:
    _dask()
    results = {}
    for name, flags in (("pool", []), ("cluster", ["--cluster", "local"])):
        assert main(["eval", str(shared_speech / "manifest.jsonl"), "--out", str(tmp_path / name), "--workers",
                     WORKERS, "--threads", "1", "--resamples", "20", "--no-progress", *flags]) == 0
        results[name] = json.loads((tmp_path / name / "results.json").read_text(encoding="utf-8"))
    pool, on_cluster = results["pool"], results["cluster"]
    assert pool["model"]["transcriber"] == "in-process"
    assert on_cluster["model"]["transcriber"] == f"dask cluster local ({WORKERS} workers)"
    assert on_cluster["model"]["num_workers"] == 1 and on_cluster["model"]["cpu_threads"] == 1
    assert on_cluster["options"]["workers"] == int(WORKERS)
    want = {u["utt_id"]: u for u in pool["utterances"]}
    got = {u["utt_id"]: u for u in on_cluster["utterances"]}
    assert len(want) == 66 and got.keys() == want.keys()
    assert {k: u["hypothesis"] for k, u in got.items()} == {k: u["hypothesis"] for k, u in want.items()}
    for key, expected in want.items():
        assert _clips(got[key]["clips"]) == _clips(expected["clips"]), key
        assert [c["confidence"] for c in got[key]["clips"]] == pytest.approx(
            [c["confidence"] for c in expected["clips"]], abs=CONFIDENCE_TOLERANCE), key
    assert on_cluster["summary"]["wer"] == pool["summary"]["wer"]
