#!/usr/bin/python3
"""exact (and any registered algorithm) against PyTorch autograd on the CPU,
on the same instance, with the same thread count, in one run.

PyTorch computes the LoRA loss the way a training script does (materialised
attention matrix, autograd through matmul and softmax) and returns dB, dA for
every adapter. Times are medians over --repeat runs after one warm-up; the
ratio torch/algorithm is printed per algorithm, with the gradient agreement
(max over gradients of ||G - G_torch||_max / ||G_torch||_max).

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/torch_compare.py \
        --L 8192 --d 64 --r 8 --dtype float32 --threads 2
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

import lorafgc


def torch_lora_gradients(inst):
    """One forward + backward through PyTorch autograd; returns (loss, grads)."""
    t = {k: torch.from_numpy(np.ascontiguousarray(inst[k])) for k in ("X", "Wq", "Wk", "Wv", "Y")}
    adapters = {k: tuple(torch.from_numpy(m).requires_grad_() for m in pair)
                for k, pair in inst["adapters"].items()}
    r = next(iter(adapters.values()))[0].shape[1]
    s = inst["alpha"] / r

    def weight(key, frozen):
        return frozen + s * adapters[key][0] @ adapters[key][1] if key in adapters else frozen

    X = t["X"]
    Q, K, V = X @ weight("q", t["Wq"]), X @ weight("k", t["Wk"]), X @ weight("v", t["Wv"])
    F = torch.softmax(inst["beta"] * Q @ K.transpose(-1, -2), dim=-1)
    loss = (0.5 * ((F @ V - t["Y"]) ** 2).sum(dim=(-1, -2))).mean()
    loss.backward()
    return loss.item(), {k: (b.grad.numpy(), a.grad.numpy()) for k, (b, a) in adapters.items()}


def median_seconds(fn, repeat):
    fn()  # warm-up: allocator, thread pool, page faults
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def max_rel(got, ref):
    worst = 0.0
    for key, pair in ref.items():
        for a, b in zip(got[key], pair):
            worst = max(worst, float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max()))
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--L", type=int, default=8192)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--mode", choices=("partial", "full"), default="partial")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--algorithms", nargs="+", default=["exact", "exact:schedule=stream"])
    ap.add_argument("--json", help="write the results here (refuses to overwrite)")
    args = ap.parse_args(argv)
    for name in ("L", "d", "r", "threads", "repeat"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.json and os.path.exists(args.json):
        ap.error(f"--json: {args.json} exists; not overwriting it")

    torch.set_num_threads(args.threads)
    lorafgc.set_num_threads(args.threads)
    inst = lorafgc.generate(args.L, args.d, args.r, args.gamma, mode=args.mode, dtype=args.dtype, seed=1)
    torch_loss, torch_grads = torch_lora_gradients(inst)
    torch_median, torch_min = median_seconds(lambda: torch_lora_gradients(inst), args.repeat)

    record = {
        "instance": {k: getattr(args, k) for k in ("L", "d", "r", "gamma", "mode", "dtype")},
        "threads": {"torch": torch.get_num_threads(), **{k: v for k, v in lorafgc.system_info().items()}},
        "torch": {"version": torch.__version__, "median_s": torch_median, "min_s": torch_min, "loss": torch_loss},
        "algorithms": [],
    }
    print(f"instance: L={args.L} d={args.d} r={args.r} gamma={args.gamma} {args.mode} {args.dtype}; "
          f"threads: torch={torch.get_num_threads()} lorafgc omp={lorafgc.system_info()['omp_threads']}")
    print(f"{'algorithm':<28}{'median s':>10}{'torch / this':>14}{'max rel vs torch':>18}")
    print(f"{'torch ' + torch.__version__ + ' autograd':<28}{torch_median:>10.4f}{1.0:>14.2f}{0.0:>18.2e}")
    for spec in args.algorithms:
        got = lorafgc.lora_gradients(**inst, algorithm=spec)
        median, best = median_seconds(lambda: lorafgc.lora_gradients(**inst, algorithm=spec), args.repeat)
        err = max_rel(got, torch_grads)
        record["algorithms"].append({"spec": got["algorithm"], "median_s": median, "min_s": best,
                                     "speedup_vs_torch": torch_median / median, "max_rel_vs_torch": err,
                                     "loss": got["loss"]})
        print(f"{spec:<28}{median:>10.4f}{torch_median / median:>14.2f}{err:>18.2e}")
    if args.json:
        with open(args.json, "x") as f:
            json.dump(record, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
