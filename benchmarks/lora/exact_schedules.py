#!/usr/bin/python3
"""Every schedule of `exact` against the others and against `exact` itself (auto),
per head width, mode and L, in one bench_exact run per d: the table behind
exact_schedule_for (algorithms/src/lora/exact/exact.cpp) and the check that auto is
never more than 10% slower than the best schedule.

    /usr/bin/python3 benchmarks/lora/exact_schedules.py --bench build/release/benchmarks/bench_exact \
        --d 4 8 16 32 64 128 --json schedules.json

Prints, per (d, mode, L), each schedule's median time, the schedule auto runs
(bench_exact's `schedule` counter), its time over the fastest schedule's, auto's
own time over that schedule's (the same code timed twice: the run's noise), and
the SGEMM rate of the same run; writes the Google Benchmark records with --json.
Interleaved repetitions (--repetitions, default 3; medians) average the drift of a
shared machine over the schedules instead of letting it fall on one of them.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

SCHEDULES = ["exact", "exact:schedule=fused", "exact:schedule=stream", "exact:schedule=panel"]


def run(bench, d, r, repetitions, min_time, lengths):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([bench, f"--d={d}", f"--r={r}", "--algorithms=" + ";".join(SCHEDULES),
                        "--benchmark_filter=gemm_square/float32|/(partial|full)/float32/L:(" + "|".join(map(str, lengths)) + ")/",
                        f"--benchmark_min_time={min_time}", f"--benchmark_repetitions={repetitions}",
                        "--benchmark_enable_random_interleaving=true",
                        "--benchmark_format=json", f"--benchmark_out={out.name}"],
                       check=True, stdout=subprocess.DEVNULL)
        return json.load(open(out.name))


def medians(records):
    """(name -> median real time in ms), over the iteration records."""
    times = {}
    for b in records["benchmarks"]:
        if b.get("run_type") == "iteration":
            times.setdefault(b["run_name"], []).append(b["real_time"])
    return {name: statistics.median(t) for name, t in times.items()}


SCHEDULE_NAMES = {0: "exact:schedule=panel", 1: "exact:schedule=stream", 2: "exact:schedule=fused"}


def chosen(records):
    """(mode, L) -> the schedule spec `exact` (auto) ran, from its `schedule` counter."""
    out = {}
    for b in records["benchmarks"]:
        if b.get("run_type") == "iteration" and b["run_name"].startswith("exact/") and "schedule" in b:
            mode, L = b["run_name"].split("/")[1], int(b["run_name"].split("L:")[1].split("/")[0])
            out[(mode, L)] = SCHEDULE_NAMES[int(b["schedule"])]
    return out


def table(d, times):
    """Rows (d, mode, L, {schedule: ms}) from the medians of one run."""
    rows = []
    for mode in ("partial", "full"):
        for L in sorted({int(n.split("L:")[1].split("/")[0]) for n in times if "L:" in n}):
            t = {s: times.get(f"{s}/{mode}/float32/L:{L}/real_time") for s in SCHEDULES}
            if all(v is not None for v in t.values()):
                rows.append((d, mode, L, t))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default="build/release/benchmarks/bench_exact")
    ap.add_argument("--d", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--L", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--min_time", type=float, default=0.1)
    ap.add_argument("--json", help="write every run's Google Benchmark records here")
    args = ap.parse_args()
    for name, values in (("--d", args.d), ("--L", args.L)):
        if any(v < 1 for v in values):
            sys.exit(f"exact_schedules: {name} must be positive")
    if args.r < 1 or args.repetitions < 1 or not args.min_time > 0:
        sys.exit("exact_schedules: --r and --repetitions must be >= 1 and --min_time > 0")
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"exact_schedules: --bench {args.bench} is not an executable")
    runs, worst, noise = {}, 0.0, 0.0
    print("| d | mode | L | auto | fused | stream | panel | auto runs | chosen / best | auto / chosen | SGEMM GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for d in args.d:
        records = run(args.bench, d, args.r, args.repetitions, args.min_time, args.L)
        runs[str(d)] = records
        times, picks = medians(records), chosen(records)
        gemm = [b["GFLOPs_performed"] for b in records["benchmarks"]
                if b.get("run_type") == "iteration" and b["run_name"].startswith("gemm_square")]
        for _, mode, L, t in table(d, times):
            best = min(v for s, v in t.items() if s != "exact")
            pick = picks[(mode, L)]
            # auto is the schedule it picks; timing both measures the run's noise.
            ratio, drift = t[pick] / best, t["exact"] / t[pick]
            worst, noise = max(worst, ratio), max(noise, abs(drift - 1))
            cells = " | ".join(f"{t[s]:.3g}" + ("*" if t[s] == best else "") for s in SCHEDULES)
            print(f"| {d} | {mode} | {L} | {cells} | {pick.split('=')[1]} | {ratio:.3f} | {drift:.3f} | "
                  f"{statistics.median(gemm):.0f} |", flush=True)
    print(f"\nms, median of {args.repetitions} interleaved repetitions; * the fastest schedule. The schedule auto "
          f"picks is at most {100 * (worst - 1):+.1f}% against the best; auto and the schedule it runs, timed "
          f"separately, differ by up to {100 * noise:.1f}% (the run's noise).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"context": runs[str(args.d[0])]["context"], "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
