#!/usr/bin/python3
"""lorafgc.torch.attention's backward against PyTorch autograd's attention
backward on the same tensors, with the same threads, in one run.

Per shape (batch, heads, L, head_dim) and dtype, interleaved repetitions of:
  torch            softmax(scale q k^T [+ mask]) v by PyTorch autograd: the
                   forward untimed, then out.backward(d_out) timed
  lorafgc          lorafgc.torch.attention, forward untimed, backward timed
  lorafgc-causal   the same with causal=True (torch-causal: PyTorch with the mask)
  kernel           the C++ backward called directly on the numpy arrays (no
                   autograd, no torch): the Python layer's overhead is
                   lorafgc / kernel
Medians over --repeat rounds; ratios are of medians measured in this run. The
machine, its vector width, BLAS configuration and thread counts go with the
results (--json refuses to overwrite a file).

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/lora/torch_attention.py \
        --shape 1 4 4096 16 --threads 2 --repeat 11
    ... --algorithm poly-cheb:eps=1e-3 --shape 1 4 16384 8 --qk-std 0.25 --no-causal --repeat 3
"""
import argparse
import json
import math
import os
import statistics
import time

import torch

import lorafgc
import lorafgc.torch as lt
from lorafgc._lorafgc.lora import attention_backward, attention_forward


def backward_seconds(fn, q, k, v, d_out):
    """Runs the forward untimed, then times the backward alone."""
    for t in (q, k, v):
        t.grad = None
    out = fn(q, k, v)
    start = time.perf_counter()
    out.backward(d_out)
    return time.perf_counter() - start


def kernel_seconds(q, k, v, d_out, causal, scale, algorithm):
    arrays = [t.detach().numpy() for t in (q, k, v, d_out)]
    out, lse, _ = attention_forward(*arrays[:3], causal, scale, algorithm)
    start = time.perf_counter()
    attention_backward(*arrays[:3], out, lse, arrays[3], causal, scale, algorithm)
    return time.perf_counter() - start


def measure(shape, dtype, repeat, algorithm, qk_std, causal):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(*shape, generator=g, dtype=dtype) * s for s in (qk_std, qk_std, 1.0))
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    d_out = torch.randn(*shape, generator=g, dtype=dtype)
    scale = 1.0 / math.sqrt(shape[-1])
    info = {}
    lt.attention(q, k, v, algorithm=algorithm, info=info).backward(d_out)  # what the algorithm reports
    reference = lt.reference_attention
    contenders = {
        "torch": lambda: backward_seconds(lambda a, b, c: reference(a, b, c, False, scale), q, k, v, d_out),
        "torch-causal": lambda: backward_seconds(lambda a, b, c: reference(a, b, c, True, scale), q, k, v, d_out),
        "lorafgc": lambda: backward_seconds(lambda a, b, c: lt.attention(a, b, c, algorithm=algorithm), q, k, v,
                                            d_out),
        "lorafgc-causal": lambda: backward_seconds(
            lambda a, b, c: lt.attention(a, b, c, causal=True, algorithm=algorithm), q, k, v, d_out),
        "kernel": lambda: kernel_seconds(q, k, v, d_out, False, scale, algorithm),
    }
    if not causal:
        del contenders["torch-causal"], contenders["lorafgc-causal"]
    for run in contenders.values():  # warm-up
        run()
    times = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, run in contenders.items():
            times[name].append(run())
    median = {name: statistics.median(t) for name, t in times.items()}
    ratios = {"torch / lorafgc": median["torch"] / median["lorafgc"],
              "lorafgc / kernel": median["lorafgc"] / median["kernel"]}
    if causal:
        ratios["torch-causal / lorafgc-causal"] = median["torch-causal"] / median["lorafgc-causal"]
        ratios["lorafgc / lorafgc-causal"] = median["lorafgc"] / median["lorafgc-causal"]
    return {"shape": list(shape), "dtype": str(dtype).replace("torch.", ""), "algorithm": algorithm,
            "qk_std": qk_std, "repeat": repeat, "info": info, "median_seconds": median, "ratios": ratios}


def use_threads(threads):
    """Both libraries on `threads`; prints and returns the machine's record."""
    torch.set_num_threads(threads)
    lorafgc.set_num_threads(threads)
    system = {"torch": torch.__version__, "torch_threads": torch.get_num_threads(), **lorafgc.system_info()}
    print(f"# {system['cpu']} ({system['cpu_id']}), {system['vector_isa']}, {system['blas_config']}; "
          f"torch {system['torch']} threads={system['torch_threads']}, lorafgc omp={system['omp_threads']}")
    return system


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=4, action="append", metavar=("BATCH", "HEADS", "L", "HEAD_DIM"),
                    help="repeatable; default 1 4 4096 16")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--algorithm", default="exact")
    ap.add_argument("--qk-std", type=float, default=1.0,
                    help="standard deviation of the entries of q and k (v, d_out: 1); sets the score range the "
                         "polynomial's degree follows")
    ap.add_argument("--no-causal", action="store_true",
                    help="leave out the causal contenders (PyTorch's mask costs another L x L tensor per head)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--json", help="write the results here (refuses to overwrite)")
    args = ap.parse_args()
    if args.json and os.path.exists(args.json):
        ap.error(f"--json: {args.json} exists; not overwriting it")
    if args.threads < 1 or args.repeat < 1:
        ap.error("--threads and --repeat must be at least 1")
    system = use_threads(args.threads)
    runs = []
    for shape in args.shape or [[1, 4, 4096, 16]]:
        r = measure(tuple(shape), getattr(torch, args.dtype), args.repeat, args.algorithm, args.qk_std,
                    not args.no_causal)
        runs.append(r)
        m = r["median_seconds"]
        facts = {k: r["info"][k] for k in ("degree", "rank", "T_used", "T_cauchy_schwarz") if k in r["info"]}
        print(f"{tuple(shape)} {r['dtype']} {args.algorithm}, q, k entries N(0, {args.qk_std}^2)"
              + (f" {facts}" if facts else "") + ": backward medians (ms) "
              + ", ".join(f"{k} {1e3 * v:.2f}" for k, v in m.items()))
        print("  " + ", ".join(f"{k} = {v:.2f}" for k, v in r["ratios"].items()))
    if args.json:
        with open(args.json, "x") as f:
            json.dump({"system": system, "runs": runs}, f, indent=2)


if __name__ == "__main__":
    main()
