"""`asr eval`: score a model on a manifest (WER/CER by slice, latency, report); `asr eval compare`: the gate.

Exit codes: 0 done (compare: the candidate passes), 1 failure (compare: the candidate fails the gate;
eval: the server went away), 2 bad input (unreadable manifest or results, bad flags, empty selection).
The evaluation package is imported when a command runs, so `asr --help` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asr_service.cli._common import (
    add_client_tls_flags,
    add_server_flags,
    add_vad_flags,
    client_tls,
    config_from_args,
    fail,
    vad_options,
)
from asr_service.client import LocalTranscriber, Transcriber
from asr_service.cores import usable_cores
from asr_service.errors import AsrError
from asr_service.evaluation.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, MIN_UTTERANCES_FOR_VERDICT
from asr_service.evaluation.latency import DEFAULT_P95_TOLERANCE
from asr_service.evaluation.normalizers import DEFAULT_NORMALIZER

if TYPE_CHECKING:
    import vad
    from asr_service.evaluation import Comparison, EvaluationResults, SliceSummary
    from asr_service.evaluation.transcription import FileTranscriber

__all__ = ["ChosenFileTranscriber", "ChosenTranscriber", "add_cluster_flag", "add_revisions_flag",
           "chosen_failure_code", "make_file_transcriber", "make_transcriber", "register"]

_USAGE = """asr eval MANIFEST [--model M | --server HOST:PORT | --cluster local|ADDRESS] [--since 90d | --from D --to D]
                [--by KEY ...] --out DIR
       asr eval compare BASELINE/results.json CANDIDATE/results.json [gate options]"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `eval` (with its `compare` form)."""
    parser = subparsers.add_parser(
        "eval", usage=_USAGE, help="evaluate a model on a manifest, or compare two evaluations (the promotion gate)",
        description="Transcribe the utterances of MANIFEST (JSON lines: audio, text, recorded_at, tags, ...) "
        "through the client VAD, in-process, through a server, or on a Dask cluster (--cluster), and score "
        "WER/CER per slice with bootstrap 95% intervals, latency p50/p95 and null rate. Writes "
        "DIR/results.json and DIR/report.html. "
        "'asr eval compare A B' pairs two results files and applies the promotion gate "
        "(exit 0 pass, 1 fail, 2 bad input).",
    )
    parser.add_argument("paths", nargs="+", metavar="MANIFEST | compare A B", help=argparse.SUPPRESS)
    run = parser.add_argument_group("evaluation")
    run.add_argument("--server", metavar="HOST:PORT", help="transcribe through this server (default: in-process)")
    add_client_tls_flags(run)
    add_cluster_flag(run)
    add_revisions_flag(run)
    run.add_argument("--out", metavar="DIR", help="where results.json, report.html and the plots go (required)")
    run.add_argument("--since", metavar="AGE", help="only rows recorded in the last AGE (90d, 12w, 36h)")
    run.add_argument("--from", dest="date_from", metavar="DATE", help="only rows recorded on or after DATE")
    run.add_argument("--to", dest="date_to", metavar="DATE", help="only rows recorded on or before DATE")
    run.add_argument("--by", nargs="+", default=["tags"], metavar="KEY", help="slice keys (default: tags)")
    run.add_argument("--normalizer", default=DEFAULT_NORMALIZER,
                     help=f"scoring normaliser (default {DEFAULT_NORMALIZER}: Whisper's English normaliser, "
                     "numbers in digits read digit by digit on both sides; whisper: Whisper's alone; "
                     "convention: the labeling spec's; none: whitespace only)")
    run.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                     help=f"bootstrap resamples (default {DEFAULT_RESAMPLES})")
    run.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"bootstrap seed (default {DEFAULT_SEED})")
    run.add_argument("--limit", type=int, metavar="N", help="only the first N selected utterances (a quick look)")
    run.add_argument("--worst", type=int, default=10, metavar="N", help="worst utterances in the report (10)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    gate = parser.add_argument_group("compare (asr eval compare BASELINE CANDIDATE)")
    gate.add_argument("--max-wer-rise", type=float, default=0.5, metavar="POINTS",
                      help="overall WER may rise by at most this many points (default 0.5)")
    gate.add_argument("--max-slice-wer-rise", type=float, default=2.0, metavar="POINTS",
                      help="no gated slice's WER may rise by more (default 2)")
    gate.add_argument("--min-slice-utterances", type=int, default=MIN_UTTERANCES_FOR_VERDICT, metavar="N",
                      help="slices with fewer shared utterances are shown as 'too few': no significance verdict, "
                      f"never gated (default {MIN_UTTERANCES_FOR_VERDICT})")
    gate.add_argument("--p95-tolerance", type=float, default=DEFAULT_P95_TOLERANCE, metavar="FRACTION",
                      help="the candidate's p95 clip latency may exceed the baseline's, measured on the same host, "
                      f"by this fraction (default {DEFAULT_P95_TOLERANCE:g})")
    gate.add_argument("--max-p95-ms", type=float, metavar="MS",
                      help="also an absolute limit on the candidate's p95 clip latency (default: none)")
    gate.add_argument("--latency-across-hosts", action="store_true",
                      help="give the relative latency verdict even when the runs were measured on different hosts "
                      "(or a run did not record its host)")
    gate.add_argument("--require-significance", action="store_true",
                      help="a WER rise fails only when the paired bootstrap calls the candidate worse")
    gate.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    add_vad_flags(parser)
    add_server_flags(parser)
    parser.set_defaults(func=dispatch)


def dispatch(args: argparse.Namespace) -> int:
    """`asr eval compare A B`, or `asr eval MANIFEST`."""
    if args.paths[0] == "compare":
        if len(args.paths) != 3:
            return fail("usage: asr eval compare BASELINE/results.json CANDIDATE/results.json", 2)
        return run_compare(args)
    if len(args.paths) != 1:
        return fail(f"asr eval takes one MANIFEST (got {len(args.paths)} paths); did you mean 'asr eval compare'?", 2)
    return run_eval(args)


def add_revisions_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--revisions`: each file as one session, its text after the revisions."""
    parser.add_argument(
        "--revisions", action="store_true",
        help="send each file's clips as one session that asks for revisions (a second pass over blocks of clips "
        "heard together; docs/vad-path.md) and take the file's text after them: what a client that streams "
        "and asks for them shows; through --server the clips go at 4x the speed of speech, so that the server's "
        "second passes get the time live speech leaves them (default: one call per clip, the text a clip gets "
        "at once)")


def add_cluster_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--cluster local|ADDRESS`: the files go to a Dask cluster's workers, one model per worker."""
    parser.add_argument(
        "--cluster", metavar="local|ADDRESS",
        help="transcribe on a Dask cluster, one model per worker process: 'local' starts one on loopback for "
        "the run (--workers processes, default one per core, of --threads threads each), ADDRESS "
        "(tcp://host:8786) uses a running scheduler's workers, which need this package and the audio paths; "
        "needs pip install 'asr-service[cluster]' (default: a pool in this process)")


@dataclass(frozen=True, kw_only=True)
class ChosenFileTranscriber:
    """What turns files into transcripts for an evaluation or a batch, as the flags ask for it."""

    transcribe: FileTranscriber
    workers: int  # files in flight at once
    budget_ms: float
    description: dict[str, Any]  # as `ChosenTranscriber.description`
    close: Callable[[], None]  # release the model, the connection or the cluster


def make_file_transcriber(args: argparse.Namespace, vad_opts: vad.VadOptions) -> ChosenFileTranscriber:
    """In-process or through --server (`make_transcriber`), or on a Dask cluster with --cluster.

    Raises ValueError (or ConfigError) for flags that do not go together, `ClusterError` when the
    cluster cannot be used."""
    if not getattr(args, "cluster", None):
        from asr_service.client import SERVER_REVISIONS_PACE
        from asr_service.evaluation import file_transcriber

        chosen = make_transcriber(args)
        try:
            # through a server, at the pace that leaves its second passes time (in-process none is dropped)
            pace = SERVER_REVISIONS_PACE if args.server and args.revisions else None
            transcribe = file_transcriber(chosen.transcriber, vad_opts, revisions=args.revisions, pace=pace)
        except ValueError:
            chosen.transcriber.close()
            raise
        return ChosenFileTranscriber(transcribe=transcribe, workers=chosen.workers,
                                     budget_ms=chosen.budget_ms, description=chosen.description,
                                     close=chosen.transcriber.close)
    from asr_service.evaluation.cluster import LOCAL, WorkerSpec, open_cluster

    if args.server:
        raise ValueError("--cluster runs the model on the cluster's workers and --server sends clips to a server: "
                         "give one of them")
    if args.cluster == LOCAL:
        # checked here as for the local pool: --workers processes x --threads threads within the cores
        workers = args.workers or usable_cores()
        config = config_from_args(args, **{"engine.num_workers": workers})
        threads = config.engine.threads_per_worker
    else:
        if args.workers:
            raise ValueError(f"--workers sizes a local pool or --cluster local; the cluster at {args.cluster} "
                             "has its own workers")
        # each worker checks its own threads against its own cores
        config = config_from_args(args, **{"engine.num_workers": 1, "engine.cpu_threads": None})
        workers, threads = None, args.threads or 0
    on_cluster = open_cluster(args.cluster, WorkerSpec(config=config, vad_options=vad_opts, cpu_threads=threads,
                                                       revisions=args.revisions), workers=workers)
    return ChosenFileTranscriber(transcribe=on_cluster, workers=on_cluster.threads, budget_ms=config.budget_ms,
                                 description={}, close=on_cluster.close)


@dataclass(frozen=True, kw_only=True)
class ChosenTranscriber:
    """The transcriber the flags ask for, and what an evaluation or a batch needs to know about it."""

    transcriber: Transcriber
    workers: int  # files in flight at once
    budget_ms: float  # the latency budget its server time is held to
    # what results.json's "model" gets beyond what the transcriber says of itself (`describe_transcriber`):
    # through a server, the models and limits its ListModels reports; in-process, nothing
    description: dict[str, Any]


def make_transcriber(args: argparse.Namespace) -> ChosenTranscriber:
    """The transcriber the flags ask for.

    In-process, `LocalTranscriber` runs N clips at once with ``--workers N`` (one model, the config
    refusing more threads than cores); through a server, N files are sent at once. The budget is the
    config's in-process, the server's through --server (unless --budget-ms says otherwise).
    """
    if args.server:
        from asr_service.client import AsrClient  # gRPC loads only for a run through a server

        client = AsrClient(args.server, timeout_s=120.0, **client_tls(args))
        client.wait_ready(timeout_s=30.0)
        served = client.list_models()
        limits = served.limits
        described = {"transcriber": f"server {args.server}",
                     "server_models": [{"model_id": m.model_id, "model_version": m.model_version, "engine": m.engine,
                                        "config_hash": m.config_hash, "role": m.role, "is_default": m.is_default}
                                       for m in served.models],
                     "server_limits": {"max_clip_s": limits.max_clip_s, "sample_rates_hz": list(limits.sample_rates_hz),
                                       "max_concurrent_requests": limits.max_concurrent_requests,
                                       "budget_ms": limits.budget_ms}}
        return ChosenTranscriber(transcriber=client, workers=max(1, args.workers or 1),
                                 budget_ms=args.budget_ms or limits.budget_ms, description=described)
    config = config_from_args(args)
    # the in-process transcriber describes its engine and recognizer settings itself (describe_transcriber)
    return ChosenTranscriber(transcriber=LocalTranscriber(config), workers=config.engine.num_workers,
                             budget_ms=config.budget_ms, description={})


def chosen_failure_code(args: argparse.Namespace, exc: Exception) -> int:
    """The exit code when the transcriber could not be set up: 1 when a server or a cluster could not be
    used (unreachable, Dask missing), 2 for bad flags or settings."""
    from asr_service.evaluation.cluster import ClusterError

    if isinstance(exc, ClusterError):
        return 1
    if getattr(args, "cluster", None):
        return 2
    return 1 if args.server else 2


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate, write results.json and the report, print the summary."""
    from tqdm import tqdm

    from asr_service.evaluation import (
        BootstrapOptions,
        DateWindow,
        EvalOptions,
        EvaluationError,
        ReportOptions,
        evaluate_manifest,
        get_normalizer,
        write_report,
        write_results,
    )

    if not args.out:
        return fail("asr eval: --out DIR is required", 2)
    try:
        get_normalizer(args.normalizer)
        window = DateWindow.from_options(since=args.since, date_from=args.date_from, date_to=args.date_to)
        options = EvalOptions(by=tuple(args.by), normalizer=args.normalizer,
                              bootstrap=BootstrapOptions(resamples=args.resamples, seed=args.seed))
        vad_opts = vad_options(args)
    except (ValueError, AsrError) as exc:
        return fail(str(exc), 2)
    try:
        chosen = make_file_transcriber(args, vad_opts)
    except (ValueError, AsrError) as exc:
        return fail(str(exc), chosen_failure_code(args, exc))
    bar = tqdm(unit="utt", desc="eval", disable=True if args.no_progress else None, file=sys.stderr)
    try:
        results = evaluate_manifest(
            args.paths[0], chosen.transcribe, window=window,
            options=dataclasses.replace(options, workers=chosen.workers, budget_ms=chosen.budget_ms),
            model=chosen.description,
            progress=lambda: bar.update(1), limit=args.limit,
        )
    except EvaluationError as exc:
        return fail(str(exc), 2)
    except AsrError as exc:  # the server went away or refused
        return fail(str(exc), 1)
    finally:
        bar.close()
        chosen.close()
    results_path = write_results(results, f"{args.out}/results.json")
    report_path = write_report(results, args.out, ReportOptions(worst=args.worst))
    _print_eval(results)
    print(f"wrote {results_path} and {report_path}")
    return 0


def _fmt_slice(s: SliceSummary) -> str:
    wer = "   -  " if s.wer is None else f"{100 * s.wer:5.1f}%"
    ci = "" if s.wer_ci is None else f"[{100 * s.wer_ci.low:5.1f}, {100 * s.wer_ci.high:5.1f}]"
    p50 = "-" if s.latency_p50_ms is None else f"{s.latency_p50_ms:.0f}"
    p95 = "-" if s.latency_p95_ms is None else f"{s.latency_p95_ms:.0f}"
    null = "-" if s.null_rate is None else f"{100 * s.null_rate:.1f}%"
    return (f"{s.name[:36]:36} {s.utterances:5} {wer} {ci:16} S{s.words.substitutions:<4} D{s.words.deletions:<4} "
            f"I{s.words.insertions:<4} p50 {p50:>4} ms  p95 {p95:>4} ms  null {null}")


def _print_eval(results: EvaluationResults) -> None:
    for problem in results.problems:
        print(f"asr: excluded manifest line {problem.line}: {problem.reason}", file=sys.stderr)
    c = results.counts
    print(f"model {results.model.get('model_version', '?')}: {c.get('scored_utterances')} utterances scored of "
          f"{c.get('manifest_rows')} rows ({c.get('excluded_bad_rows', 0)} bad rows, "
          f"{c.get('excluded_unreadable_audio', 0)} unreadable, {c.get('excluded_by_date', 0)} excluded by date)")
    print(f"{'slice':36} {'utts':>5} {'WER':>6} {'95% CI':16}")
    for s in (results.overall, *results.slices):
        print(_fmt_slice(s))
    first = results.first_results  # scored by the runner, as results.json stores it
    if first is not None and first.rate is not None and results.overall.wer is not None:
        print(f"revisions: WER {100 * results.overall.wer:.2f} % after them, {100 * first.rate:.2f} % for the clips' "
              f"first results alone (S{first.substitutions} D{first.deletions} I{first.insertions})")


def run_compare(args: argparse.Namespace) -> int:
    """Compare two results files; exit 0 when the candidate passes the gate, 1 when not, 2 on bad input."""
    import json

    from asr_service.evaluation import BootstrapOptions, EvaluationError, Gates, compare, load_results

    try:
        gates = Gates(max_wer_rise_points=args.max_wer_rise, max_slice_wer_rise_points=args.max_slice_wer_rise,
                      min_slice_utterances=args.min_slice_utterances, p95_tolerance=args.p95_tolerance,
                      max_p95_latency_ms=args.max_p95_ms, latency_across_hosts=args.latency_across_hosts,
                      require_significance=args.require_significance,
                      bootstrap=BootstrapOptions(resamples=args.resamples, seed=args.seed))
        comparison = compare(load_results(args.paths[1]), load_results(args.paths[2]), gates)
    except (EvaluationError, ValueError) as exc:
        return fail(str(exc), 2)
    _print_comparison(comparison)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(comparison.to_json(), fh, indent=1)
    return 0 if comparison.passed else 1


def _print_comparison(c: Comparison) -> None:
    print(f"baseline {c.baseline} vs candidate {c.candidate}: {c.shared} shared utterances "
          f"({c.only_baseline} only in baseline, {c.only_candidate} only in candidate, "
          f"{c.reference_mismatch} with changed references left out)")
    if c.settings_differences:
        print(f"settings that differ ({len(c.settings_differences)}; baseline -> candidate):")
        for difference in c.settings_differences:
            print(f"  {difference.describe()}")
    print(f"{'slice':36} {'utts':>5} {'base':>7} {'cand':>7} {'delta':>7}  {'95% CI of delta':18} significance")
    for s in (c.overall, *c.slices):
        base = "-" if s.baseline_wer is None else f"{100 * s.baseline_wer:6.2f}%"
        cand = "-" if s.candidate_wer is None else f"{100 * s.candidate_wer:6.2f}%"
        delta = "-" if s.delta_points is None else f"{s.delta_points:+6.2f}"
        ci = "" if s.paired is None else f"[{100 * s.paired.interval.low:+.2f}, {100 * s.paired.interval.high:+.2f}]"
        print(f"{s.name[:36]:36} {s.utterances:5} {base:>7} {cand:>7} {delta:>7}  {ci:18} {s.verdict}")
    _print_latency(c)
    if c.passed:
        print("PASS: the candidate passes every gate")
    else:
        print("FAIL: " + "; ".join(c.failures))


def _print_latency(c: Comparison) -> None:
    lat = c.latency
    base = "-" if lat.baseline_p95_ms is None else f"{lat.baseline_p95_ms:.0f} ms"
    cand = "-" if lat.candidate_p95_ms is None else f"{lat.candidate_p95_ms:.0f} ms"
    ratio = "" if lat.ratio is None else f" ({lat.ratio:.2f}x)"
    limits = []
    if lat.relative_limit_ms is not None:
        limits.append(f"{1 + lat.tolerance:.2f}x the baseline: {lat.relative_limit_ms:.0f} ms")
    if lat.absolute_limit_ms is not None:
        limits.append(f"absolute {lat.absolute_limit_ms:.0f} ms")
    limit = f"; limit {', '.join(limits)}" if limits else ""
    print(f"p95 clip latency: baseline {base}, candidate {cand}{ratio}; hosts: {lat.hosts}{limit}")
    if lat.note:
        print(f"  {lat.note}")
