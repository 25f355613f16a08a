#!/usr/bin/python3
"""The random feature methods' error distribution against their rank, next to the
certified polynomial's: for favor and poly-sketch, per rank, the median and the
maximum over --seeds seeds of max_rel = max|G~ - G| / max|G| against `exact` in
float64, and the median time of a run; for poly-cheb, per eps, its rank, error
and time. Then the smallest rank at which each random method's median error
reaches each --targets value, or, when none of the measured ranks does, the rank
a power law median ~ rank^s fitted to the largest two predicts (s in the JSON).

    /usr/bin/python3 benchmarks/lora/random_features.py --L 16384 --d 8 --T 1 \
        --json reports/benchmarks/random_features.json

The instance is the generator's gaussian family with score_bound T (T_cs), r = 4,
partial, float32 runs, seed 1.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np

import lorafgc


def max_rel(g, truth):
    num = den = 0.0
    for key in ("q", "k", "v"):
        if key in truth:
            for a, b in zip(g[key], truth[key]):
                num = max(num, float(np.abs(a.astype(np.float64) - b).max()))
                den = max(den, float(np.abs(b).max()))
    return num / den


def timed(inst, spec):
    t0 = time.perf_counter()
    g = lorafgc.lora.gradients(**inst, algorithm=spec)
    return g, time.perf_counter() - t0


def sweep_random(inst, truth, method, widths, seeds, option):
    rows = []
    for m in widths:
        errors, times, rank = [], [], None
        for seed in range(1, seeds + 1):
            try:
                g, t = timed(inst, f"{method}:{option}={m},seed={seed}")
            except lorafgc.NumericalError:  # D <= 0 at a narrow sketch: counted as a failure
                errors.append(math.inf)
                continue
            errors.append(max_rel(g, truth))
            times.append(t)
            rank = g["info"]["rank"]
        row = dict(method=method, width=m, rank=rank, median=statistics.median(errors), max=max(errors),
                   failures=sum(math.isinf(e) for e in errors), seconds=statistics.median(times) if times else None)
        print(f"{method:12s} {option}={m:<6d} rank {row['rank']!s:>8s}  median {row['median']:.2e}  max {row['max']:.2e}"
              f"  failures {row['failures']}  {row['seconds'] or math.nan:.3f} s", flush=True)
        rows.append(row)
    return rows


def rank_for(rows, target):
    for row in rows:
        if row["median"] <= target:
            return dict(rank=row["rank"], measured=True)
    a, b = rows[-2], rows[-1]  # median ~ C / sqrt(rank): extrapolate from the largest two
    if not (math.isfinite(a["median"]) and math.isfinite(b["median"])) or b["median"] >= a["median"]:
        return dict(rank=None, measured=False)
    slope = math.log(b["median"] / a["median"]) / math.log(b["rank"] / a["rank"])
    return dict(rank=b["rank"] * (target / b["median"]) ** (1 / slope), measured=False, slope=slope)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--L", type=int, default=16384)
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--T", type=float, default=1.0)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--favor", type=int, nargs="+", default=[64, 256, 1024, 4096, 16384, 65536])
    ap.add_argument("--sketch", type=int, nargs="+", default=[16, 64, 256, 1024, 4096, 16384])
    ap.add_argument("--eps", type=float, nargs="+", default=[1e-1, 1e-2, 1e-3, 1e-4])
    ap.add_argument("--targets", type=float, nargs="+", default=[1e-2, 1e-3])
    ap.add_argument("--json", help="write the table here (refused if it exists)")
    a = ap.parse_args(argv)
    for name in ("L", "d", "seeds"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if not a.T > 0:
        ap.error("--T must be positive")
    if a.json and os.path.exists(a.json):
        ap.error(f"--json {a.json} exists; not overwriting it")
    inst = lorafgc.lora.generate(a.L, a.d, 4, 1.0, dtype="float32", seed=1, score_bound=a.T)
    inst64 = lorafgc.lora.generate(a.L, a.d, 4, 1.0, dtype="float64", seed=1, score_bound=a.T)
    truth = lorafgc.lora.gradients(**inst64, algorithm="exact")
    print(f"# L={a.L} d={a.d} T_cs={a.T} float32, {a.seeds} seeds; {lorafgc.system_info()}", flush=True)
    poly = []
    for eps in a.eps:
        g, t = timed(inst, f"poly-cheb:eps={eps}")
        poly.append(dict(method="poly-cheb", eps=eps, rank=g["info"]["rank"], degree=g["info"]["degree"],
                         error=max_rel(g, truth), seconds=t))
        print(f"poly-cheb    eps={eps:<8g} rank {poly[-1]['rank']:>8.0f}  error {poly[-1]['error']:.2e}  {t:.3f} s",
              flush=True)
    rows = sweep_random(inst, truth, "favor", a.favor, a.seeds, "features")
    rows += sweep_random(inst, truth, "poly-sketch", a.sketch, a.seeds, "sketch")
    summary = []
    for target in a.targets:
        cheb = next((p for p in poly if p["error"] <= target), None)
        for method in ("favor", "poly-sketch"):
            r = rank_for([x for x in rows if x["method"] == method], target)
            summary.append(dict(target=target, method=method, **r,
                                poly_cheb_rank=cheb["rank"] if cheb else None))
            how = "measured" if r["measured"] else f"extrapolated: median ~ rank^{r.get('slope', math.nan):.2f}, fitted to the largest two ranks"
            rank = f"{r['rank']:.3g}" if r["rank"] else "not reached, no trend"
            print(f"median error {target:g}: {method} rank {rank} ({how}); poly-cheb reaches it at rank "
                  f"{cheb['rank'] if cheb else 'n/a'}")
    if a.json:
        with open(a.json, "x") as f:
            json.dump(dict(args=vars(a), system=lorafgc.system_info(), poly=poly, random=rows, summary=summary), f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
