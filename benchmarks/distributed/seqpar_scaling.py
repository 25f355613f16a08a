#!/usr/bin/python3
"""Sequence-parallel gradients: bytes and times measured under `mpirun -n P`
(lorafgc-seqpar) over L, and a communication cost model that extrapolates the
per-step time of exact and of the polynomial method to P = 2 .. 1024 processes
and L = 2^16 .. 2^24 on a stated network (issue 17, items 3 and 4).

Measured, per algorithm and L: the median time of the slowest process, the time
inside communication, and the payload bytes each process sent and received
(docs/sequence-parallel.md). Model, per step on P processes:
  compute   exact: a L^2 / P + b L   (the queries are split; every process forms
                                      the keys' factors of all L rows)
            poly:  a L / P + b       (b: the plan and the k x m reductions' work)
  fitted by least squares to the measured compute (time - communication) of P
  processes;
  network   alpha per message, beta per byte (default 2 us, 100 Gb/s);
            an all-reduce of n bytes: 2 log2(P) alpha + 2 (P - 1) / P n beta;
            an all-gather of L d s bytes: log2(P) alpha + (P - 1) / P L d s beta.
The payloads come from the measurement: exact gathers X (L d s bytes) and
reduces its d x r products; the polynomial method reduces k x m sums whose size
does not depend on L (measured at every L; taken from the largest).

    /usr/bin/python3 benchmarks/distributed/seqpar_scaling.py --ranks 2 --threads 1 --json out.json
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from command_line import guarded  # noqa: E402


def measure(args, spec, lengths):
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seqpar.jsonl")
        for L in lengths:
            command = [args.mpirun, *args.mpirun_args.split(), "-n", str(args.ranks), args.seqpar, "--L", str(L),
                       "--d", str(args.d), "--r", str(args.r), "--T", str(args.T), "--dtype", args.dtype,
                       "--mode", args.mode, "--threads", str(args.threads), "--repeat", str(args.repeat),
                       "--json", path, "--algorithms", spec]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"seqpar_scaling.py: error: {' '.join(command)} failed:\n{result.stderr}")
        for line in open(path):
            r = json.loads(line)
            r["compute_s"] = max(r["median_s"] - r["comm_median_s"], 0.0)
            out.append(r)
    return out


def least_squares(rows, ys):
    """Non-negative fit of y = sum_k c_k x_k for two columns (normal equations, clipped)."""
    import numpy as np
    A, y = np.array(rows, dtype=float), np.array(ys, dtype=float)
    c, *_ = np.linalg.lstsq(A / y[:, None], np.ones_like(y), rcond=None)  # relative residuals
    return [max(float(v), 0.0) for v in c]


def all_reduce(n, P, alpha, beta):
    return 2 * math.log2(P) * alpha + 2 * (P - 1) / P * n * beta if P > 1 else 0.0


def all_gather(n, P, alpha, beta):
    return math.log2(P) * alpha + (P - 1) / P * n * beta if P > 1 else 0.0


def fitted_model(records, quadratic):
    P = records[0]["processes"]
    xs = [[r["L"] ** 2 / P, r["L"]] if quadratic else [r["L"] / P, 1.0] for r in records]
    return least_squares(xs, [r["compute_s"] for r in records])


def predict(model, L, P, alpha, beta):
    a, b = model["compute"]
    compute = a * L * L / P + b * L if model["quadratic"] else a * L / P + b
    calls, reduced = model["calls"], model["reduced_bytes"]
    # One call carries the reduced payload (its latency counted there), one the gather; the rest are latency.
    comm = (calls - model["gathers"] - 1) * all_reduce(0, P, alpha, 0) + all_reduce(reduced, P, alpha, beta)
    if model["gathers"]:
        comm += all_gather(L * model["gathered_bytes_per_row"], P, alpha, beta)
    return compute, comm


def model_of(records, quadratic, scalar_bytes, d):
    last = records[-1]
    P = last["processes"]
    sent = max(last["bytes_sent"])
    gathered_per_row = d * scalar_bytes if quadratic else 0
    # exact's payload sent: its own rows of X (gathered) plus the reductions.
    reduced = sent - (math.ceil(last["L"] / P) * gathered_per_row if quadratic else 0)
    return {"quadratic": quadratic, "compute": fitted_model(records, quadratic), "calls": last["collective_calls"],
            "gathers": 1 if quadratic else 0, "gathered_bytes_per_row": gathered_per_row,
            "reduced_bytes": max(reduced, 0)}


def figure(result, path):
    """Left: payload bytes per process against L, measured. Right: the predicted
    step-time ratio exact / polynomial against P, one line per L."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, style in (("exact", "o-"), ("poly", "s-")):
        rs = [r for r in result["measured"] if (r["spec"] == "exact") == (name == "exact")]
        left.loglog([r["L"] for r in rs], [max(r["bytes_received"]) for r in rs], style, base=2,
                    label=rs[0]["spec"] if rs else name)
    P = result["measured"][0]["processes"]
    left.set(xlabel="L", ylabel="bytes received per process",
             title=f"measured, mpirun -n {P} ({result['measured'][0]['machine']['cpu']} "
                   f"{result['measured'][0]['machine']['cpu_id']}, {result['measured'][0]['machine']['vector_isa']})")
    left.legend()
    rows = result["extrapolated"]
    for L in sorted({r["L"] for r in rows}):
        pts = [r for r in rows if r["L"] == L]
        right.loglog([r["P"] for r in pts], [r["advantage"] for r in pts], "o-", base=2, label=f"L = 2^{L.bit_length() - 1}")
    net = result["network"]
    right.set(xlabel="processes P", ylabel="predicted step time exact / polynomial",
              title=f"alpha = {net['alpha_s'] * 1e6:g} us, {8 / net['beta_s_per_byte'] / 1e9:g} Gb/s")
    right.axhline(1, color="grey", lw=0.8)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per process")
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--T", type=float, default=1.0, help="the generated instances' score bound")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--mode", default="partial", choices=["partial", "full"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--exact-lengths", default="4096,8192,16384,32768,65536,131072,262144")
    ap.add_argument("--poly-lengths", default="4096,8192,16384,32768,65536,131072,262144")
    ap.add_argument("--poly", default="poly-cheb:range_rows=0", help="the polynomial method's spec")
    ap.add_argument("--alpha-us", type=float, default=2.0, help="network latency per message, microseconds")
    ap.add_argument("--gbit", type=float, default=100.0, help="network bandwidth per process, Gb/s")
    ap.add_argument("--seqpar", default=os.path.join(ROOT, "build/release/tools/lorafgc-seqpar"))
    ap.add_argument("--mpirun", default=shutil.which("mpirun") or "mpirun")
    ap.add_argument("--mpirun-args", default="", help="extra mpirun arguments, e.g. '--oversubscribe'")
    ap.add_argument("--json", help="write the measurements, the fitted model and the extrapolation here")
    ap.add_argument("--figure", help="draw the bytes and the extrapolation into this PNG")
    ap.add_argument("--replot", help="draw --figure from this --json file instead of measuring")
    args = ap.parse_args(argv)
    if args.replot:
        if not args.figure:
            ap.error("--replot needs --figure")
        with open(args.replot) as f:
            figure(json.load(f), args.figure)
        return 0
    for name in ("ranks", "threads", "repeat", "d", "r"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}: must be >= 1, got {getattr(args, name)}")
    if not (args.alpha_us >= 0 and args.gbit > 0):
        ap.error("--alpha-us must be >= 0 and --gbit > 0")
    if os.geteuid() == 0 and "--allow-run-as-root" not in args.mpirun_args:
        args.mpirun_args += " --allow-run-as-root"
    lengths = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    exact = measure(args, "exact", lengths(args.exact_lengths))
    poly = measure(args, args.poly, lengths(args.poly_lengths))
    scalar = 4 if args.dtype == "float32" else 8
    print(f"P = {args.ranks}, {args.threads} thread(s) per process, d = {args.d}, r = {args.r}, {args.dtype}, "
          f"{args.mode}; cpu: {exact[0]['machine']['cpu']} ({exact[0]['machine']['vector_isa']})")
    print(f"{'algorithm':<10} {'L':>8} {'time s':>9} {'comm s':>9} {'sent B':>12} {'received B':>12} {'degree':>6}")
    for r in exact + poly:
        print(f"{r['spec'].split(':')[0]:<10} {r['L']:>8} {r['median_s']:>9.4f} {r['comm_median_s']:>9.4f} "
              f"{max(r['bytes_sent']):>12.0f} {max(r['bytes_received']):>12.0f} "
              f"{r['info'].get('degree', float('nan')):>6.0f}")
    alpha, beta = args.alpha_us * 1e-6, 8.0 / (args.gbit * 1e9)
    models = {"exact": model_of(exact, True, scalar, args.d), "poly": model_of(poly, False, scalar, args.d)}
    table = []
    for P in [2 ** k for k in range(1, 11)]:
        for L in [2 ** k for k in range(16, 25, 2)]:
            if L < P:
                continue
            (ec, en), (pc, pn) = predict(models["exact"], L, P, alpha, beta), predict(models["poly"], L, P, alpha, beta)
            table.append({"P": P, "L": L, "exact_compute_s": ec, "exact_comm_s": en, "poly_compute_s": pc,
                          "poly_comm_s": pn, "advantage": (ec + en) / (pc + pn), "comm_advantage": en / pn})
    print(f"\npredicted per-step time on alpha = {args.alpha_us} us, {args.gbit} Gb/s "
          f"(compute fitted on this machine; docs/sequence-parallel.md)")
    print(f"{'P':>5} {'L':>9} {'exact s':>10} {'of it comm':>10} {'poly s':>10} {'of it comm':>10} {'exact/poly':>10}")
    for row in table:
        print(f"{row['P']:>5} {row['L']:>9} {row['exact_compute_s'] + row['exact_comm_s']:>10.3g} "
              f"{row['exact_comm_s']:>10.3g} {row['poly_compute_s'] + row['poly_comm_s']:>10.3g} "
              f"{row['poly_comm_s']:>10.3g} {row['advantage']:>10.3g}")
    result = {"args": vars(args), "measured": exact + poly, "models": models,
              "network": {"alpha_s": alpha, "beta_s_per_byte": beta}, "extrapolated": table}
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(args.json + ".tmp", args.json)  # a complete file or the old one
    if args.figure:
        figure(result, args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(guarded("seqpar_scaling.py", main))
