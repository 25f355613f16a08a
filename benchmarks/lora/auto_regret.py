#!/usr/bin/env python3
"""auto's regret measured interleaved (docs/auto.md, "Regret").

The sweep times each algorithm's repetitions one after another, so the drift of a
noisy machine between algorithms shows up as regret. Here every point times all
algorithms in rounds, each round in a fresh random order, and compares medians: per
point, auto's median over the fastest median of the others that met the target
error (max_rel against exact in float64). One sample is the mean of k calls, k
chosen so that a sample lasts about 2 ms. Calls go through the Python bindings, so
every time includes the same argument conversion (tens of microseconds). A contender
that missed the target, or whose first call took over 3x the fastest one that met
it, is not timed further (it cannot be the best). auto's choice is also timed alone, by its
spec with the plan's instance options: choice_regret is its median over the best,
overhead auto's median over its (the plan, and what auto adds to the call).

--json is rewritten (whole, then moved over the old file) after every point, with
"complete": false until the last. Run again with the same arguments on the same
machine and build, a stopped run resumes: its points are kept and not measured
again. A file of other arguments or from another machine is refused, never
overwritten.

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/lora/auto_regret.py \\
        --family gaussian llm adversarial --d 8 --json out.json
"""
import argparse
import json
import math
import os
import random
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))

import lorafgc  # noqa: E402
from bounded_call import finishes_within  # noqa: E402
from command_line import describe, guarded, write_json_whole  # noqa: E402

CONTENDERS = ["exact", "poly-cheb:eps=1e-3", "poly-hybrid:eps=1e-3", "poly-taylor:eps=1e-3"]
# A contender predicted to take longer than this (and than the fastest first call)
# has its first call tried in a worker stopped at 3x the fastest (too_slow).
BOUNDED_FROM = 0.5


def positive(kind):
    def parse(text):
        value = kind(text)
        if not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


positive_int, positive_real = positive(int), positive(float)


def as_float64(inst):
    out = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in inst.items() if k != "adapters"}
    out["adapters"] = {k: tuple(m.astype(np.float64) for m in v) for k, v in inst["adapters"].items()}
    return out


def max_rel(g, truth):
    keys = [k for k in ("q", "k", "v") if k in truth]
    scale = max(np.abs(truth[k][i]).max() for k in keys for i in (0, 1))
    return max(np.abs(g[k][i] - truth[k][i]).max() for k in keys for i in (0, 1)) / scale


def point(family, mode, d, L, T, target, rounds, rng):
    inst = lorafgc.lora.generate(L=L, d=d, r=4, gamma=1.0, mode=mode, dtype="float32", seed=1,
                                 score_bound=T, family=family)
    truth = lorafgc.lora.gradients(**as_float64(inst), algorithm="exact")
    specs = CONTENDERS + [f"auto:target_error={target:g}"]
    plan = lorafgc.plan(inst, target_error=target)  # also the calibrations, once per process and shape
    predicted = {row["algorithm"]: row["predicted_seconds"] for row in plan["rows"]}
    error, calls, first, chose, stopped = {}, {}, {}, None, []
    for s in specs:
        fastest = min((first[c] for c in first if error[c] <= target), default=math.inf)
        if s in CONTENDERS and too_slow(inst, s, predicted.get(s.split(":")[0]), fastest):
            error[s], first[s] = math.nan, math.inf
            stopped.append(s)
            print(f"  {s} stopped: its first call ran past 3x the fastest ({3 * fastest:.3g} s)", flush=True)
            continue
        start = time.perf_counter()
        try:
            g = lorafgc.lora.gradients(**inst, algorithm=s)
        except ValueError as e:  # refused (a degree over the memory budget): not a contender here
            error[s], first[s] = math.inf, math.inf
            print(f"  {s} refused: {e}", flush=True)
            continue
        first[s] = time.perf_counter() - start
        error[s] = float(max_rel(g, truth))
        calls[s] = max(1, math.ceil(2e-3 / max(first[s], 1e-9)))
        if s.startswith("auto"):
            chose = next(k[len("chosen["):-1] for k in g["info"] if k.startswith("chosen["))
    # Timed in rounds: auto, and every contender that met the target and whose
    # first call was within 3x of the fastest such (the rest cannot be the best).
    fastest = min((first[s] for s in CONTENDERS if error[s] <= target), default=math.inf)
    timed = [s for s in specs if s.startswith("auto") or (error[s] <= target and first[s] <= 3 * fastest)]
    # auto's choice run bare (its spec, with the plan's instance options), to split the regret into the choice's
    # and the plan's overhead.
    auto = specs[-1]
    if chose not in timed:
        timed.append(chose)
        calls[chose] = calls[auto]
    samples = {s: [] for s in timed}
    for _ in range(rounds):
        order = timed[:]
        rng.shuffle(order)
        for s in order:
            start = time.perf_counter()
            for _ in range(calls[s]):
                lorafgc.lora.gradients(**inst, algorithm=s)
            samples[s].append((time.perf_counter() - start) / calls[s])
    median = {s: statistics.median(v) for s, v in samples.items()}
    met = [s for s in CONTENDERS if s in median]
    best = min(met, key=median.get) if met else None
    regret = median[auto] / median[best] if best else math.nan
    return dict(family=family, mode=mode, d=d, L=L, T=T, target=target, chose=chose, best=best,
                auto_s=median[auto], best_s=median[best] if best else None, auto_error=error[auto],
                regret=regret, choice_regret=median[chose] / median[best] if best else math.nan,
                overhead=median[auto] / median[chose],
                met=bool(error[auto] <= target), passed=bool(best and error[auto] <= target and regret <= 1.25),
                medians=median, errors={k: (v if math.isfinite(v) else None) for k, v in error.items()},
                stopped=stopped)


def too_slow(inst, spec, predicted_s, fastest):
    """Whether spec's first call would run past 3x the fastest first call so far that
    met the target, by running it in a worker stopped at that limit. Such a contender
    is not timed further anyway (it cannot be the best); the worker only saves
    waiting for it. Tried only where the plan's prediction for the algorithm exceeds
    both the fastest call and BOUNDED_FROM seconds (a worker's start costs about a
    second): the prediction only decides where to look, the worker's clock decides."""
    if not math.isfinite(fastest) or predicted_s is None or predicted_s <= max(fastest, BOUNDED_FROM):
        return False
    return not finishes_within(inst, spec, 3 * fastest)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", nargs="+", default=["gaussian", "llm", "adversarial"])
    ap.add_argument("--modes", nargs="+", default=["partial", "full"], choices=["partial", "full"])
    ap.add_argument("--d", nargs="+", type=positive_int, default=[8])
    ap.add_argument("--L", nargs="+", type=positive_int, default=[512, 1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--T", nargs="+", type=positive_real, default=[0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0])
    ap.add_argument("--target", type=positive_real, default=1e-3)
    ap.add_argument("--rounds", type=positive_int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write every point and the system description here")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    rows = resumed(args)
    done = {(r["family"], r["mode"], r["d"], r["L"], r["T"]) for r in rows}
    for family in args.family:
        for mode in args.modes:
            for d in args.d:
                for L in args.L:
                    for T in args.T:
                        if (family, mode, d, L, T) in done:
                            continue
                        r = point(family, mode, d, L, T, args.target, args.rounds, rng)
                        rows.append(r)
                        print(f"{family} {mode} d={d} L={L} T={T:g}: auto {r['auto_s'] * 1e3:.3f} ms "
                              f"({r['chose']}), best {r['best']} "
                              f"{(r['best_s'] or math.nan) * 1e3:.3f} ms, regret {r['regret']:.2f}, "
                              f"choice {r['choice_regret']:.2f}, overhead {r['overhead']:.2f}, "
                              f"error {r['auto_error']:.1e}", flush=True)
                        write(args, rows, complete=False)
    for family in args.family:
        rs = [r for r in rows if r["family"] == family]
        passed = sum(r["passed"] for r in rs)
        good = sum(1 for r in rs if r["choice_regret"] <= 1.25)
        print(f"{family}: {passed}/{len(rs)} pass; choice within 1.25x at {good}/{len(rs)}; "
              f"median regret {statistics.median(r['regret'] for r in rs if not math.isnan(r['regret'])):.2f}; "
              f"median overhead {statistics.median(r['overhead'] for r in rs):.2f}")
    write(args, rows, complete=True)
    return 0


# The arguments that define a run's points: a --json file of other values is not resumed.
GRID = ("family", "modes", "d", "L", "T", "target", "rounds", "seed")
# What a resumed file must share with this process: the points' ratios compare within
# one machine and build configuration.
SAME_SYSTEM = ("cpu", "cpu_id", "vector_isa", "hardware_threads", "blas_config", "blas_threads", "build")


def resumed(args):
    """The points an earlier, stopped run of the same arguments wrote to --json
    (none when the file does not exist). A file of other arguments, or from another
    machine or build configuration, is refused naming --json: it is never overwritten."""
    if not args.json or not os.path.exists(args.json):
        return []
    try:
        with open(args.json) as f:
            old = json.load(f)
        old_args, system, points = old["args"], old["system"], list(old["points"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"--json: {args.json} is not this script's results file ({describe(e)}); "
                         "give another file") from None
    if any(old_args.get(k) != vars(args)[k] for k in GRID):
        raise ValueError(f"--json: {args.json} holds a run of other arguments; give another file")
    here = lorafgc.system_info()
    if any(system.get(k) != here.get(k) for k in SAME_SYSTEM):
        raise ValueError(f"--json: {args.json} was measured on another machine or build; give another file")
    return points


def write(args, rows, complete):
    """The points so far, written whole and moved over the old file: never a torn one.
    Written after every point (complete: false until the last), so that a long sweep
    stopped part way keeps what it measured."""
    if not args.json:
        return
    write_json_whole(args.json, {"args": vars(args), "system": lorafgc.system_info(), "complete": complete,
                                 "points": rows})


if __name__ == "__main__":
    sys.exit(guarded("auto_regret.py", main))
