#!/usr/bin/python3
"""exact (and any registered algorithm) against PyTorch autograd on the CPU,
on the same instance, with the same thread count, in one run.

PyTorch computes the LoRA loss the way a training script does (materialised
attention matrix, autograd through matmul and softmax) and returns dB, dA for
every adapter. Times are medians over --repeat runs after one warm-up; the
ratio torch/algorithm is printed per algorithm, with the gradient agreement
(max over gradients of ||G - G_torch||_max / ||G_torch||_max).

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/lora/torch_compare.py \
        --L 8192 --d 64 --r 8 --dtype float32 --threads 2
    ... --preset main --json out.json     (the instances the main command reports)
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


def max_rel(got, ref):
    worst = 0.0
    for key, pair in ref.items():
        for a, b in zip(got[key], pair):
            worst = max(worst, float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max()))
    return worst


# The instances the README's main command compares: the d = 64 target
# (where the norm bound makes the polynomial method infeasible) and a small-d,
# T = 1 instance where it is far ahead.
PRESETS = {
    "main": [
        dict(L=8192, d=64, r=8, gamma=1.0, T=0.0, mode="partial", dtype="float32"),
        dict(L=16384, d=8, r=4, gamma=1.0, T=1.0, mode="partial", dtype="float32"),
    ],
}


def registered_contenders():
    """Every variant the registry lists, but the oracle's (its O(L^2) memory is not a contender)."""
    return [spec for a in lorafgc.lora.algorithms() if not a["oracle"] for spec in a["variants"]]


def compare_instance(params, algorithms, threads, repeat):
    """Torch and every algorithm on one instance. Repetitions are interleaved
    (torch, alg 1, alg 2, ..., torch, ...) so that a noisy neighbour slows all of
    them alike instead of one."""
    inst = lorafgc.lora.generate(params["L"], params["d"], params["r"], params["gamma"], mode=params["mode"],
                            dtype=params["dtype"], seed=1, score_bound=params.get("T", 0.0))
    torch_loss, torch_grads = torch_lora_gradients(inst)
    runners = {"torch": lambda: torch_lora_gradients(inst)}
    results = {}
    for spec in algorithms:
        try:
            results[spec] = lorafgc.lora.gradients(**inst, algorithm=spec)  # also the warm-up
            runners[spec] = (lambda s: lambda: lorafgc.lora.gradients(**inst, algorithm=s))(spec)
        except (ValueError, lorafgc.NumericalError) as e:  # the resource guard, an unreachable eps, a random map's D <= 0
            results[spec] = e
    times = {name: [] for name in runners}
    for _ in range(repeat):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    torch_median = statistics.median(times["torch"])
    record = {
        "instance": dict(params),
        "threads": {"torch": torch.get_num_threads(), **lorafgc.system_info()},
        "torch": {"version": torch.__version__, "median_s": torch_median, "min_s": min(times["torch"]),
                  "loss": torch_loss},
        "algorithms": [],
    }
    print(f"instance: L={params['L']} d={params['d']} r={params['r']} gamma={params['gamma']} T={params.get('T', 0)} "
          f"{params['mode']} {params['dtype']}; threads: torch={torch.get_num_threads()} "
          f"lorafgc omp={lorafgc.system_info()['omp_threads']}; {repeat} interleaved repetitions")
    print(f"{'algorithm':<28}{'median s':>10}{'torch / this':>14}{'max rel vs torch':>18}")
    print(f"{'torch ' + torch.__version__ + ' autograd':<28}{torch_median:>10.4f}{1.0:>14.2f}{0.0:>18.2e}")
    for spec in algorithms:
        got = results[spec]
        if isinstance(got, ValueError):
            record["algorithms"].append({"spec": spec, "status": "refused", "message": str(got)})
            print(f"{spec:<28}  refused: {got}")
            continue
        median = statistics.median(times[spec])
        err = max_rel(got, torch_grads)
        record["algorithms"].append({"spec": got["algorithm"], "status": "ok", "median_s": median,
                                     "min_s": min(times[spec]), "speedup_vs_torch": torch_median / median,
                                     "max_rel_vs_torch": err, "loss": got["loss"], "info": got["info"]})
        print(f"{spec:<28}{median:>10.4f}{torch_median / median:>14.2f}{err:>18.2e}")
    return record


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), help="run a preset list of instances instead")
    ap.add_argument("--L", type=int, default=8192)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--T", type=float, default=0.0, help="target score bound (overrides gamma for Q, K)")
    ap.add_argument("--mode", choices=("partial", "full"), default="partial")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--algorithms", nargs="+", default=registered_contenders(),
                    help="specs to compare (default: the variants of every non-oracle algorithm in the registry)")
    ap.add_argument("--json", help="write the results here (refuses to overwrite)")
    args = ap.parse_args(argv)
    for name in ("L", "d", "r", "threads", "repeat"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.json and os.path.exists(args.json):
        ap.error(f"--json: {args.json} exists; not overwriting it")

    torch.set_num_threads(args.threads)
    lorafgc.set_num_threads(args.threads)
    instances = PRESETS[args.preset] if args.preset else [
        {k: getattr(args, k) for k in ("L", "d", "r", "gamma", "T", "mode", "dtype")}]
    runs = [compare_instance(p, args.algorithms, args.threads, args.repeat) for p in instances]
    if args.json:
        with open(args.json, "x") as f:
            json.dump(runs, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
    import command_line
    sys.exit(command_line.guarded("torch_compare", main))
