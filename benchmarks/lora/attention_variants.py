#!/usr/bin/python3
"""The attention algorithms of the registry side by side on one instance:
lorafgc.torch.attention's backward (the forward untimed) for each, in
interleaved rounds, with each one's error against exact in float64 and what it
reports (degree, rank, certified range, poly-hybrid's exact rows, auto's
choice). auto's regret is its median over the fastest median among the others
whose every output meets its target_error (max_rel against the float64 truth).

Instances: q and k with entries N(0, qk_std^2), v and d_out N(0, 1); with
--outliers N F, N rows of q and N / 2 rows of k (the same positions in every
head) F times longer: the few long rows that set the score range, which
poly-hybrid takes exactly. Refusals (a degree past the limit) are recorded
with their reason. The machine, its vector width, BLAS configuration and
thread counts go with the results (--json refuses to overwrite a file).

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/lora/attention_variants.py \\
        --shape 1 4 16384 8 --qk-std 0.25 --outliers 16 4 --repeat 5
"""
import argparse
import json
import math
import os
import re
import statistics

import torch

import lorafgc.torch as lt
from torch_attention import backward_seconds, use_threads

DEFAULT_ALGORITHMS = ["exact", "poly-cheb:eps=1e-3", "poly-hybrid:eps=1e-3", "auto:target_error=1e-3"]
REPORTED = ("degree", "rank", "T_used", "T_bulk", "outlier_queries", "outlier_keys", "planning_seconds")


def instance(shape, dtype, qk_std, outliers, factor):
    g = torch.Generator().manual_seed(1)
    q, k = (qk_std * torch.randn(*shape, generator=g, dtype=torch.float64) for _ in range(2))
    v, d_out = (torch.randn(*shape, generator=g, dtype=torch.float64) for _ in range(2))
    rows = torch.randperm(shape[2], generator=g)[:outliers]
    q[..., rows, :] *= factor
    k[..., rows[:outliers // 2], :] *= factor
    return q, k, v, d_out


def results(algorithm, q, k, v, d_out, scale, info=None):
    q, k, v = (t.detach().clone().requires_grad_() for t in (q, k, v))
    out = lt.attention(q, k, v, scale=scale, algorithm=algorithm, info=info)
    out.backward(d_out)
    return [out.detach(), q.grad, k.grad, v.grad]


def max_rel(got, want):
    return max(((g.double() - w).abs().max() / w.abs().max()).item() for g, w in zip(got, want))


def measure(shape, dtype, algorithms, qk_std, outliers, factor, repeat):
    q64, k64, v64, d64 = instance(shape, dtype, qk_std, outliers, factor)
    scale = 1.0 / math.sqrt(shape[-1])
    truth = results("exact", q64, k64, v64, d64, scale)
    q, k, v = (t.to(dtype).requires_grad_() for t in (q64, k64, v64))
    d_out = d64.to(dtype)
    rows = {}
    for a in algorithms:
        info = {}
        try:
            got = results(a, q, k, v, d_out, scale, info)  # also the warm-up (auto's calibrations)
        except ValueError as e:
            rows[a] = {"refused": str(e)}
            continue
        rows[a] = {"max_rel": max_rel(got, truth), "seconds": [],
                   "info": {key: info[key] for key in REPORTED if key in info},
                   "chosen": [key[7:-1] for key, value in info.items() if key.startswith("chosen[") and value == 1]}
    timed = [a for a in algorithms if "refused" not in rows[a]]
    for _ in range(repeat):
        for a in timed:
            rows[a]["seconds"].append(backward_seconds(
                lambda x, y, z: lt.attention(x, y, z, scale=scale, algorithm=a), q, k, v, d_out))
    for a in timed:
        rows[a]["median_seconds"] = statistics.median(rows[a]["seconds"])
    for a in timed:
        if not a.startswith("auto"):
            continue
        given = re.search(r"target_error=([^,]+)", a)
        target = float(given.group(1)) if given else 1e-3
        met = [rows[b]["median_seconds"] for b in timed if not b.startswith("auto") and rows[b]["max_rel"] <= target]
        if met:
            rows[a]["regret"] = rows[a]["median_seconds"] / min(met)
    return {"shape": list(shape), "dtype": str(dtype).replace("torch.", ""), "qk_std": qk_std,
            "outliers": outliers, "factor": factor, "repeat": repeat, "algorithms": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=4, default=[1, 4, 16384, 8], metavar=("BATCH", "HEADS", "L", "HEAD_DIM"))
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--algorithm", action="append", help=f"repeatable; default {' '.join(DEFAULT_ALGORITHMS)}")
    ap.add_argument("--qk-std", type=float, default=0.25)
    ap.add_argument("--outliers", type=float, nargs=2, default=[16, 4], metavar=("ROWS", "FACTOR"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="write the results here (refuses to overwrite)")
    args = ap.parse_args()
    if args.json and os.path.exists(args.json):
        ap.error(f"--json: {args.json} exists; not overwriting it")
    if args.threads < 1 or args.repeat < 1 or args.outliers[0] < 0 or args.outliers[0] != int(args.outliers[0]):
        ap.error("--threads and --repeat must be at least 1, --outliers ROWS a count >= 0")
    system = use_threads(args.threads)
    r = measure(tuple(args.shape), getattr(torch, args.dtype), args.algorithm or DEFAULT_ALGORITHMS, args.qk_std,
                int(args.outliers[0]), args.outliers[1], args.repeat)
    print(f"{tuple(args.shape)} {r['dtype']}, q, k entries N(0, {args.qk_std}^2), {r['outliers']} rows x "
          f"{r['factor']}: backward medians")
    for a, row in r["algorithms"].items():
        if "refused" in row:
            print(f"  {a}: refused: {row['refused'][:140]}")
            continue
        extra = (f", chose {row['chosen'][0]}" if row["chosen"] else "") + \
                (f", regret {row['regret']:.2f}" if "regret" in row else "")
        print(f"  {a}: {1e3 * row['median_seconds']:.1f} ms, max_rel {row['max_rel']:.1e} {row['info']}{extra}")
    if args.json:
        with open(args.json, "x") as f:
            json.dump({"system": system, "run": r}, f, indent=2)


if __name__ == "__main__":
    main()
