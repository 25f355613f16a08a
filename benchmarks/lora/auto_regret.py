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
from command_line import guarded  # noqa: E402

CONTENDERS = ["exact", "poly-cheb:eps=1e-3", "poly-hybrid:eps=1e-3", "poly-taylor:eps=1e-3"]


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
    lorafgc.plan(inst, target_error=target)  # the calibrations, once per process and shape
    error, calls, first, chose = {}, {}, {}, None
    for s in specs:
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
                medians=median, errors={k: (v if math.isfinite(v) else None) for k, v in error.items()})


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
    rows = []
    for family in args.family:
        for mode in args.modes:
            for d in args.d:
                for L in args.L:
                    for T in args.T:
                        r = point(family, mode, d, L, T, args.target, args.rounds, rng)
                        rows.append(r)
                        print(f"{family} {mode} d={d} L={L} T={T:g}: auto {r['auto_s'] * 1e3:.3f} ms "
                              f"({r['chose']}), best {r['best']} "
                              f"{(r['best_s'] or math.nan) * 1e3:.3f} ms, regret {r['regret']:.2f}, "
                              f"choice {r['choice_regret']:.2f}, overhead {r['overhead']:.2f}, "
                              f"error {r['auto_error']:.1e}", flush=True)
    for family in args.family:
        rs = [r for r in rows if r["family"] == family]
        passed = sum(r["passed"] for r in rs)
        good = sum(1 for r in rs if r["choice_regret"] <= 1.25)
        print(f"{family}: {passed}/{len(rs)} pass; choice within 1.25x at {good}/{len(rs)}; "
              f"median regret {statistics.median(r['regret'] for r in rs if not math.isnan(r['regret'])):.2f}; "
              f"median overhead {statistics.median(r['overhead'] for r in rs):.2f}")
    if args.json:  # written whole, then moved over the old file: never a torn one
        text = json.dumps({"args": vars(args), "system": lorafgc.system_info(), "points": rows}, indent=1)
        with open(args.json + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(guarded("auto_regret.py", main))
