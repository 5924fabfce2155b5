"""Files transcribed on a Dask cluster: one model per worker process, one task per file.

`open_cluster("local", spec, workers=N)` starts a `distributed.LocalCluster` on loopback for the run
(N worker processes of one thread each, no dashboard); `open_cluster("tcp://host:8786", spec)`
connects to a running scheduler and uses its workers. Either way the result is a
`ClusterFileTranscriber`: a `FileTranscriber` whose `transcribe_many` sends each file (or span) to
the cluster as a task and yields the transcripts as they finish, so `run_batch` and `evaluate` write,
resume and show progress exactly as they do with the local pool (`transcribe_files` hands the work to
it).

On a worker, a task finds the worker's model in a cache of this module, keyed by the worker's
`ServerConfig`, and loads it there on the first task only: one `LocalTranscriber` per worker process
(its recognizer runs as many clips at once as the worker runs tasks, each on `cpu_threads` threads),
never one per task. The file is read on the worker, so its path must be readable there (the same
machine, or a shared filesystem), and the workers need this package installed (the same version).

Dask is an optional dependency (``pip install 'asr-service[cluster]'``, i.e. ``dask[distributed]``),
imported only here and only when a cluster is opened, so ``asr --help`` and ``import asr_service``
never load it. A missing Dask, a scheduler that cannot be reached, or one with no workers raises
`ClusterError` with one line that says what to do.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import vad
from asr_service.client import LocalTranscriber
from asr_service.config import ServerConfig
from asr_service.cores import usable_cores
from asr_service.errors import AsrError
from asr_service.evaluation.transcription import (
    FileTranscript,
    Source,
    calls_setting,
    describe_config,
    transcribe_file,
)

__all__ = ["CLUSTER_INSTALL", "LOCAL", "ClusterError", "ClusterFileTranscriber", "WorkerSpec", "open_cluster",
           "start_local_cluster"]

logger = logging.getLogger(__name__)

LOCAL = "local"
"""The `--cluster` value that starts a cluster on this machine for the run."""
CLUSTER_INSTALL = "pip install 'asr-service[cluster]'"
"""What installs the optional dependency (the extra holds ``dask[distributed]``)."""
CONNECT_TIMEOUT_S = 10.0  # a scheduler that does not answer in this long is unreachable
WORKERS_TIMEOUT_S = 60.0  # a scheduler with no worker after this long is reported, not waited on forever
IN_FLIGHT_PER_THREAD = 2  # files queued per worker thread: enough to keep every worker busy, few futures
# Dask config for the workers a local cluster starts: no MALLOC_TRIM_THRESHOLD_ (see `start_local_cluster`).
_NO_TRIM_THRESHOLD = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class ClusterError(AsrError):
    """The cluster cannot be used: Dask is not installed, the scheduler is unreachable or has no workers."""


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    """What every worker needs to transcribe a file: the config its model is built from, the VAD options,
    the threads each of its clips runs on (0: the worker's cores shared out among its threads), and whether
    a file is one session with revisions (`transcribe_file`)."""

    config: ServerConfig
    vad_options: vad.VadOptions
    cpu_threads: int = 0
    revisions: bool = False

    def worker_config(self, nthreads: int, cores: int) -> ServerConfig:
        """The config of the model on a worker that runs `nthreads` tasks at once on `cores` cores.

        The engine runs `nthreads` clips at once, each on `cpu_threads` threads (0: ``cores // nthreads``),
        and no solo encoder (a clip alone on a worker stays on its own threads, so that workers sharing a
        machine do not take each other's cores). Checked on the worker, against its own cores.
        """
        threads = self.cpu_threads or max(1, cores // max(1, nthreads))
        engine = dataclasses.replace(self.config.engine, num_workers=nthreads, cpu_threads=threads,
                                     solo_threads=threads)
        return dataclasses.replace(self.config, engine=engine)


# The worker side: one model per worker process, loaded by its first task.
_models: dict[ServerConfig, LocalTranscriber] = {}
_models_lock = threading.Lock()


def _worker_transcriber(config: ServerConfig) -> LocalTranscriber:
    with _models_lock:
        model = _models.get(config)
        if model is None:
            logger.info("loading the model on this worker (%s, %d clips at once, %d threads each)",
                        config.engine.model, config.engine.num_workers, config.engine.cpu_threads)
            model = _models[config] = LocalTranscriber(config)
        return model


def _distributed() -> Any:
    """The `distributed` module, or `ClusterError` saying how to install it.

    Imported by name, as untyped: Dask is optional (mypy checks this package without it), and most of
    its API is not annotated."""
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:
        raise ClusterError(f"--cluster needs Dask's distributed scheduler ({exc}): {CLUSTER_INSTALL}") from exc


def _transcribe_task(spec: WorkerSpec, source: Source) -> FileTranscript | vad.VadError:
    """One file on a worker (a Dask task): its transcript, or the `vad.VadError` of unreadable audio."""
    nthreads: int = _distributed().get_worker().state.nthreads
    config = spec.worker_config(nthreads, usable_cores())
    try:
        return transcribe_file(_worker_transcriber(config), source, spec.vad_options, revisions=spec.revisions)
    except vad.VadError as exc:
        return exc


def _result(future: Any) -> FileTranscript | vad.VadError:
    """A task's outcome; this package's own errors come back as they are, anything else as `ClusterError`
    (a worker killed over and over, a worker without this package) naming what happened."""
    try:
        outcome: FileTranscript | vad.VadError = future.result()
    except AsrError:
        raise
    except Exception as exc:
        raise ClusterError(f"a transcription task failed on the cluster: {type(exc).__name__}: {exc}") from exc
    return outcome


class ClusterFileTranscriber:
    """A `FileTranscriber` whose files are transcribed by a Dask cluster's workers.

    `transcribe_many` is what the batch and the evaluation use; calling it on one file works too (one
    task, waited for). `close` disconnects, and stops the cluster when this started it.
    """

    def __init__(self, client: Any, spec: WorkerSpec, *, target: str, cluster: Any = None) -> None:
        """`client`: a `distributed.Client`; `cluster`: the `distributed.LocalCluster` to stop at `close`."""
        self._client = client
        self._spec = spec
        self._target = target
        self._cluster = cluster

    @property
    def threads(self) -> int:
        """Tasks the cluster runs at once (its workers' threads, now)."""
        return sum(self._nthreads().values())

    @property
    def workers(self) -> int:
        """Worker processes in the cluster, now."""
        return len(self._nthreads())

    def _nthreads(self) -> dict[str, int]:
        return dict(self._client.nthreads())

    def __call__(self, source: Source) -> FileTranscript:
        """One file on the cluster; raises `vad.VadError` for unreadable audio, as `transcribe_file` does."""
        outcome = _result(self._submit(source))
        if isinstance(outcome, vad.VadError):
            raise outcome
        return outcome

    def transcribe_many(self, sources: Sequence[Source]) -> Iterator[tuple[int, FileTranscript | vad.VadError]]:
        """(index, transcript or the file's VadError) for each source, in completion order.

        At most `IN_FLIGHT_PER_THREAD` files per worker thread are submitted at a time; another goes
        as each one comes back. A task whose worker dies is run again elsewhere by the scheduler; an
        error raised in a task (a bad model, a refused setting) is raised here, and the rest cancelled.
        """
        if not sources:
            return
        most = IN_FLIGHT_PER_THREAD * max(1, self.threads)
        todo = iter(enumerate(sources))
        index_of: dict[Any, int] = {}  # distributed.Future -> index
        for i, source in todo:
            index_of[self._submit(source)] = i
            if len(index_of) >= most:
                break
        finished = _distributed().as_completed(list(index_of))
        try:
            for future in finished:
                yield index_of.pop(future), _result(future)
                nxt = next(todo, None)
                if nxt is not None:
                    new = self._submit(nxt[1])
                    index_of[new] = nxt[0]
                    finished.add(new)
        finally:
            if index_of:  # stopped early: an error, or the consumer went away
                self._client.cancel(list(index_of))

    def _submit(self, source: Source) -> Any:
        # a key of its own, so that two rows naming the same file are two tasks, as in the local pool
        return self._client.submit(_transcribe_task, self._spec, source, key=f"asr-file-{uuid.uuid4().hex}")

    def settings(self) -> dict[str, Any]:
        """As `ClipFileTranscriber.settings`: client VAD clips, how they were sent, and the VAD's options."""
        return {"path": "vad-clips", "calls": calls_setting(revisions=self._spec.revisions),
                "vad": dataclasses.asdict(self._spec.vad_options)}

    def system(self) -> dict[str, Any]:
        """What a worker's model runs with (as `describe_config` says of an in-process one), and the cluster.

        ``num_workers`` is a worker's threads (clips at once); a ``cpu_threads`` of 0 (on a cluster this
        did not start, without ``--threads``) means each worker's cores shared out among its threads."""
        nthreads = self._nthreads()
        described = describe_config(self._spec.config)
        described.update(num_workers=max(nthreads.values(), default=1), cpu_threads=self._spec.cpu_threads,
                         solo_threads=self._spec.cpu_threads, transcriber=f"dask cluster {self._target}",
                         cluster_workers=len(nthreads), cluster_threads=sum(nthreads.values()))
        return described

    def close(self) -> None:
        """Disconnect; stop the cluster (and its workers' models) when this started it."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def start_local_cluster(workers: int) -> Any:
    """A `distributed.LocalCluster` on loopback: `workers` processes of one thread each, no dashboard.

    Its scheduler's HTTP endpoint (health, metrics) takes a free port rather than 8787, which another
    cluster may hold. Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's
    adaptive mmap threshold: every large buffer is then mapped and unmapped again, and on the CI
    machine (2 cores, the shared speech) each worker spent 4.5 s of its 13 s in the kernel and the run
    took 26 s instead of 11 s; these workers start without it.
    """
    if workers < 1:
        raise ValueError(f"--workers: {workers} is out of range (allowed: >= 1)")
    distributed = _distributed()
    with importlib.import_module("dask").config.set(_NO_TRIM_THRESHOLD):
        return distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        )


def _connect(distributed: Any, target: str, timeout_s: float) -> Any:
    """A `distributed.Client` connected to the scheduler at `target`; ValueError for no address,
    `ClusterError` when it does not answer within `timeout_s`."""
    try:
        return distributed.Client(target, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        failure = _without_tracebacks(exc)
    # The half-made Client closes itself in `__del__`, which takes the lock of Dask's loop runner. Let
    # that happen now, in this thread: left to the garbage collector, it ran inside the next cluster's
    # new loop thread while that cluster held the lock waiting for the thread, which then failed after 10 s.
    gc.collect()
    if isinstance(failure, ValueError):
        raise ValueError(f"--cluster: {target!r} is neither {LOCAL!r} nor a scheduler address (tcp://host:port) "
                         f"({failure})") from failure
    raise ClusterError(f"cannot reach the Dask scheduler at {target} within {timeout_s:g} s ({failure})") from failure


def _without_tracebacks(exc: BaseException) -> BaseException:
    """`exc` with its tracebacks (and those of its causes) dropped: their frames hold the failed Client."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        todo += [current.__cause__, current.__context__]
    return exc


def open_cluster(target: str, spec: WorkerSpec, *, workers: int | None = None,
                 connect_timeout_s: float | None = None,
                 workers_timeout_s: float | None = None) -> ClusterFileTranscriber:
    """A cluster to transcribe on: `LOCAL` starts one on loopback with `workers` processes (default: one
    per core) of one thread each (`start_local_cluster`); anything else is a scheduler address
    (``tcp://host:8786``), whose workers are used as they are.

    Raises `ClusterError` when Dask is missing, the scheduler cannot be reached within
    `connect_timeout_s` (default `CONNECT_TIMEOUT_S`), or it has no worker within `workers_timeout_s`
    (default `WORKERS_TIMEOUT_S`); ValueError for a target that is no address.
    """
    distributed = _distributed()
    connect_s = CONNECT_TIMEOUT_S if connect_timeout_s is None else connect_timeout_s
    if target == LOCAL:
        count = workers or usable_cores()
        cluster = start_local_cluster(count)
        try:
            client = distributed.Client(cluster, timeout=connect_s)
        except BaseException:
            cluster.close()
            raise
        return ClusterFileTranscriber(client, spec, target=f"{LOCAL} ({count} workers)", cluster=cluster)
    client = _connect(distributed, target, connect_s)
    wait_s = WORKERS_TIMEOUT_S if workers_timeout_s is None else workers_timeout_s
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise ClusterError(f"the Dask scheduler at {target} has no workers (waited {wait_s:g} s)") from exc
    return ClusterFileTranscriber(client, spec, target=target)
