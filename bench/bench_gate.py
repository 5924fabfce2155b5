"""The figures behind two defaults of `asr eval compare`: the smallest slice that gets a verdict, and the
latency tolerance.

    python bench/bench_gate.py slices BASELINE/results.json CANDIDATE/results.json [--null swap|binomial]
                                      [--trials 2000] [--max-n 30]
    python bench/bench_gate.py latency RUN1/results.json RUN2/results.json ... [--tolerance 0.5]

``slices``: how often the paired bootstrap (1000 resamples, 95 %) calls a difference "worse" or "better"
when there is none, by slice size n. A slice of n utterances is drawn from the two runs' shared
utterances without replacement, and their error counts are made so that neither system is better (the
null hypothesis holds):

- ``--null swap`` (default): each utterance's two real error counts, swapped with probability 1/2 (the
  real sizes and spread of per-utterance differences; sparse when the systems are close);
- ``--null binomial``: both systems' counts drawn independently from Binomial(reference words, p), p the
  baseline's smoothed WER on that utterance ((errors + 0.5) / (words + 1)): two different systems of
  equal quality, where most utterances differ.

The nominal rate is 10 % (5 % a side); at n = 1 any difference is called, since every resample is the
same utterance. Prints n, the false-verdict rate, how often the slice had any difference at all, and
the false-verdict rate among those slices.

``latency``: the p95 clip latency of each run (all clips) and, over every ordered pair of runs (one as
baseline, the other as candidate), the ratio candidate / baseline: its median, 95th percentile and
maximum, and how many pairs a gate with ``--tolerance`` would fail. Give it runs of one eval repeated on
one host with the same settings.

Prints a table and one JSON line per row. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from asr_service.evaluation import load_results, paired_bootstrap  # noqa: E402
from asr_service.evaluation.summary import percentile  # noqa: E402


def slices(baseline_path: str, candidate_path: str, *, null: str, trials: int, max_n: int, seed: int) -> None:
    baseline, candidate = load_results(baseline_path), load_results(candidate_path)
    by_id = {u.utt_id: u for u in candidate.utterances}
    rows = [(b.words.reference_length, b.words.errors, by_id[b.utt_id].words.errors)
            for b in baseline.utterances if b.utt_id in by_id]
    data = np.asarray(rows, dtype=np.float64)
    differ = int(np.sum(data[:, 1] != data[:, 2]))
    print(f"{len(rows)} shared utterances, {differ} with different error counts; null: {null}; {trials} trials per n")
    print(f"{'n':>3} {'false verdicts':>15} {'slices with a difference':>25} {'false verdicts among those':>27}")
    rng = np.random.default_rng(seed)
    for n in range(1, min(max_n, len(rows)) + 1):
        called = with_difference = 0
        for trial in range(trials):
            pick = data[rng.choice(len(rows), size=n, replace=False)]
            if null == "swap":
                swap = rng.random(n) < 0.5
                base = np.where(swap, pick[:, 2], pick[:, 1])
                cand = np.where(swap, pick[:, 1], pick[:, 2])
            else:
                words = pick[:, 0].astype(np.int64)
                p = np.minimum((pick[:, 1] + 0.5) / (pick[:, 0] + 1.0), 1.0)
                base, cand = rng.binomial(words, p).astype(np.float64), rng.binomial(words, p).astype(np.float64)
            with_difference += int(np.any(base != cand))
            result = paired_bootstrap(base, cand, pick[:, 0], seed=trial)
            called += int(result is not None and result.verdict != "no significant difference")
        among = called / with_difference if with_difference else 0.0
        print(f"{n:>3} {called / trials:>14.1%} {with_difference / trials:>24.1%} {among:>26.1%}")
        print(json.dumps({"n": n, "null": null, "false_verdict_rate": called / trials,
                          "with_difference": with_difference / trials, "false_verdict_rate_given_difference": among,
                          "trials": trials}))


def latency(paths: list[str], *, tolerance: float) -> None:
    p95s = []
    for path in paths:
        run = load_results(path)
        value = percentile([c.latency_ms for u in run.utterances for c in u.clips], 95)
        if value is None:
            raise SystemExit(f"{path}: no clips")
        p95s.append(value)
        clips = sum(len(u.clips) for u in run.utterances)
        print(f"{path}: p95 {value:.0f} ms over {clips} clips (workers {run.options.get('workers')})")
    ratios = np.asarray([b / a for a, b in itertools.permutations(p95s, 2)])
    failing = int(np.sum(ratios > 1.0 + tolerance))
    figures = {"runs": len(p95s), "p95_ms_min": min(p95s), "p95_ms_max": max(p95s),
               "ratio_median": float(np.median(ratios)), "ratio_p95": float(np.percentile(ratios, 95)),
               "ratio_max": float(ratios.max()), "pairs": len(ratios), "tolerance": tolerance,
               "pairs_failing": failing}
    print(f"{len(p95s)} runs: p95 {min(p95s):.0f}-{max(p95s):.0f} ms; candidate/baseline over {len(ratios)} "
          f"ordered pairs: median {figures['ratio_median']:.2f}, 95th percentile {figures['ratio_p95']:.2f}, "
          f"max {figures['ratio_max']:.2f}; tolerance {tolerance:g} fails {failing} of {len(ratios)} pairs")
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("slices", help="false-verdict rate of the paired bootstrap by slice size")
    s.add_argument("baseline")
    s.add_argument("candidate")
    s.add_argument("--null", choices=["swap", "binomial"], default="swap")
    s.add_argument("--trials", type=int, default=2000)
    s.add_argument("--max-n", type=int, default=30)
    s.add_argument("--seed", type=int, default=0)
    lat = sub.add_parser("latency", help="run-to-run spread of the p95 clip latency")
    lat.add_argument("runs", nargs="+")
    lat.add_argument("--tolerance", type=float, default=0.5)
    args = parser.parse_args()
    if args.command == "slices":
        slices(args.baseline, args.candidate, null=args.null, trials=args.trials, max_n=args.max_n, seed=args.seed)
    else:
        latency(args.runs, tolerance=args.tolerance)


if __name__ == "__main__":
    main()
