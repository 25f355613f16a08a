#!/usr/bin/env python3
"""exact's float32 rounding error over a grid, in auto's measure: max_rel over all
gradients together against exact in float64 on the same (float32) data, and the same
in units of u sqrt(L) max(1, T), the shape of exact's error model (docs/auto.md,
"Error models"; u = 2^-24, T the instance's prescribed Cauchy-Schwarz score bound).
No timing: the data behind the model's factor.

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/lora/exact_rounding.py \\
        --d 4 8 --L 512 4096 32768 --json exact-errors.json

--json must not exist: a results file is never overwritten.
"""
import argparse
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lorafgc  # noqa: E402
from auto_regret import as_float64, max_rel, positive  # noqa: E402
from command_line import guarded, write_json_whole  # noqa: E402

UNIT_ROUNDOFF = 2.0 ** -24  # float32


def point(family, mode, d, L, T):
    inst = lorafgc.lora.generate(L=L, d=d, r=4, gamma=1.0, mode=mode, dtype="float32", seed=1, score_bound=T,
                                 family=family)
    truth = lorafgc.lora.gradients(**as_float64(inst), algorithm="exact")
    got = lorafgc.lora.gradients(**inst, algorithm="exact")
    error = float(max_rel(got, truth))
    return dict(family=family, mode=mode, d=d, L=L, T=T, schedule=got["info"]["schedule"], error=error,
                ratio=error / (UNIT_ROUNDOFF * math.sqrt(L) * max(1.0, T)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", nargs="+", default=["gaussian", "llm", "adversarial"])
    ap.add_argument("--modes", nargs="+", default=["partial", "full"], choices=["partial", "full"])
    ap.add_argument("--d", nargs="+", type=positive(int), default=[4, 8, 16, 32])
    ap.add_argument("--L", nargs="+", type=positive(int), default=[512, 4096, 32768])
    ap.add_argument("--T", nargs="+", type=positive(float), default=[0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0])
    ap.add_argument("--json", help="write the points and the system description here (a new file)")
    args = ap.parse_args(argv)
    if args.json and os.path.exists(args.json):
        raise ValueError(f"--json: {args.json} exists; give a new file (results are never overwritten)")
    points = [point(f, m, d, L, T) for L in args.L for d in args.d for f in args.family for m in args.modes
              for T in args.T]
    ratios = [p["ratio"] for p in points]
    worst = max(points, key=lambda p: p["ratio"])
    print(f"{len(points)} points: error / (u sqrt(L) max(1, T)) median {statistics.median(ratios):.3f}, "
          f"max {worst['ratio']:.3f} ({worst['family']} {worst['mode']} d={worst['d']} L={worst['L']} "
          f"T={worst['T']:g}: {worst['error']:.2e}); largest error {max(p['error'] for p in points):.2e}")
    if args.json:
        write_json_whole(args.json, {"args": vars(args), "system": lorafgc.system_info(), "points": points})
    return 0


if __name__ == "__main__":
    sys.exit(guarded("exact_rounding.py", main))
