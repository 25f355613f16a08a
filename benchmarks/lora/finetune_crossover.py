#!/usr/bin/python3
"""At which context length does the polynomial attention backward start to pay
in the fine-tuning experiment's model (docs/finetune.md)? Per L, the causal
attention backward of one layer's shape (batch, heads, L, head_dim) with
QK-normed queries and keys at the config's score temperature (T = tau exactly,
as in training), timed after an exact forward, in interleaved repetitions:
lorafgc `exact`, the polynomial at each --eps, and PyTorch autograd (up to
--torch-max-L: its L x L scores). Medians per L; ratios of medians from this
run; the smallest L where each eps beats exact.

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/lora/finetune_crossover.py \\
        reports/configs/finetune.json --lengths 1024 2048 4096 8192 16384 32768 --json crossover.json
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch

import lorafgc
import lorafgc.torch as lt
from torch_attention import use_threads

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from experiment_driver import ConfigError  # noqa: E402
from finetune.model import qk_norm  # noqa: E402
from finetune_experiments import load_config  # noqa: E402


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value
    return parse


def qkv(shape, tau, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(*shape, generator=g) for _ in range(3))
    return qk_norm(q, tau), qk_norm(k, tau), v


def backward_seconds(q, k, v, d_out, spec):
    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    if spec == "torch":
        out = lt.reference_attention(q, k, v, causal=True)
    else:
        out = lt.attention(q, k, v, causal=True, algorithm="exact", backward_algorithm=spec)
    start = time.perf_counter()
    out.backward(d_out)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="a fine-tuning config: its model's batch, heads, head width, temperature")
    ap.add_argument("--lengths", type=positive(int), nargs="+", default=[1024, 2048, 4096, 8192, 16384, 32768])
    ap.add_argument("--eps", type=positive(float), nargs="+", default=[1e-2, 1e-3])
    ap.add_argument("--torch-max-L", type=positive(int), default=8192)
    ap.add_argument("--threads", type=positive(int), default=2)
    ap.add_argument("--repeat", type=positive(int), default=5)
    ap.add_argument("--json", help="write the results here (refuses to overwrite)")
    args = ap.parse_args()
    if args.json and os.path.exists(args.json):
        ap.error(f"--json: {args.json} exists; refusing to overwrite it")
    try:
        cfg = load_config(args.config)
    except (ConfigError, OSError) as e:
        ap.error(f"config: {e}")
    m = cfg["model"]
    tau = m.get("score_temperature")
    if tau is None:
        ap.error("config: model.score_temperature is null; the crossover needs a known score bound")
    system = use_threads(args.threads)
    specs = ["exact"] + [f"poly-cheb:eps={e:g}" for e in args.eps]
    rows = []
    for L in args.lengths:
        shape = (cfg["finetune"]["batch"], m["heads"], L, m["width"] // m["heads"])
        q, k, v = qkv(shape, tau, seed=L)
        d_out = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        names = specs + (["torch"] if L <= args.torch_max_L else [])
        times = {s: [] for s in names}
        for _ in range(args.repeat):
            for s in names:
                times[s].append(backward_seconds(q, k, v, d_out, s))
        median = {s: statistics.median(t) for s, t in times.items()}
        row = {"shape": shape, "T": tau, "median_s": median,
               "speedup_over_exact": {s: median["exact"] / median[s] for s in names},
               "speedup_over_torch": {s: median["torch"] / median[s] for s in names} if "torch" in median else {}}
        rows.append(row)
        print(f"L = {L:6d}: " + ", ".join(f"{s} {1e3 * t:.1f} ms" for s, t in median.items()) + " | over exact: "
              + ", ".join(f"{s} {r:.3g}x" for s, r in row["speedup_over_exact"].items() if s != "exact"), flush=True)
    pays = {s: next((r["shape"][2] for r in rows if r["speedup_over_exact"][s] > 1), None) for s in specs[1:]}
    print("smallest L where the polynomial backward beats exact: "
          + ", ".join(f"{s}: {L if L else 'none measured'}" for s, L in pays.items()))
    if args.json:
        with open(args.json, "x") as f:
            json.dump({"system": system, "config": args.config, "rows": rows, "pays_from_L": pays,
                       "repeat": args.repeat}, f, indent=1)


if __name__ == "__main__":
    main()
