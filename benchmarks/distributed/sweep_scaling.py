#!/usr/bin/python3
"""The distributed sweep's speed-up, in one run: the same config swept by one
process and by `mpirun -n P`, both at --threads threads per process, each into a
fresh results file; the points must come out the same (key and status), and the
ratio of wall times is the figure (issue 17: <= 0.6 for P = 2 on 2 cores at 1
thread). Per-point times of the two runs are compared too: ranks that disturb
each other's timings show up there.

    /usr/bin/python3 benchmarks/distributed/sweep_scaling.py --ranks 2 --threads 1 --json out.json
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from command_line import guarded  # noqa: E402


def records(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def outcome(rs):
    return {(p["algorithm"], p["mode"], p["dtype"], p["L"], p["d"], p["r"], p["norm"]): p for p in rs
            if p.get("type") == "point"}


def timed(command):
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"sweep_scaling.py: error: {' '.join(command)} failed:\n{result.stderr}")
    return time.perf_counter() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=os.path.join(ROOT, "reports/configs/default.json"))
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per process, both runs")
    ap.add_argument("--sweep", default=os.path.join(ROOT, "build/release/tools/lorafgc-sweep"))
    ap.add_argument("--mpirun", default=shutil.which("mpirun") or "mpirun")
    ap.add_argument("--mpirun-args", default="", help="extra mpirun arguments, e.g. '--oversubscribe'")
    ap.add_argument("--twice", action="store_true",
                    help="also sweep with one process a second time: how many statuses differ between two runs of "
                         "one process (the time limit's skips follow measured rates)")
    ap.add_argument("--keep", help="copy the results files into this folder")
    ap.add_argument("--json", help="write the figures, both runs' headers and sessions here")
    args = ap.parse_args(argv)
    if args.ranks < 1:
        ap.error(f"--ranks: must be >= 1, got {args.ranks}")
    if args.threads < 1:
        ap.error(f"--threads: must be >= 1, got {args.threads}")
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as work:
        single, shared = os.path.join(work, "single.jsonl"), os.path.join(work, "shared.jsonl")
        one = timed([args.sweep, "run", args.config, "-o", single, "--threads", str(args.threads), "-q"])
        many = timed([args.mpirun, *root, *args.mpirun_args.split(), "-n", str(args.ranks), args.sweep, "run",
                      args.config, "-o", shared, "--threads", str(args.threads), "-q"])
        a, b = records(single), records(shared)
        again = None
        if args.twice:
            repeat = os.path.join(work, "single-again.jsonl")
            timed([args.sweep, "run", args.config, "-o", repeat, "--threads", str(args.threads), "-q"])
            again = records(repeat)
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for name in os.listdir(work):
                shutil.copy(os.path.join(work, name), args.keep)
    pa, pb = outcome(a), outcome(b)
    differ = sorted(set(pa) ^ set(pb)) + [k for k in pa if k in pb and pa[k]["status"] != pb[k]["status"]]
    same = not differ
    per_point = [pb[k]["median_s"] / pa[k]["median_s"] for k in pa
                 if k in pb and pa[k]["status"] == pb[k]["status"] == "ok" and pa[k]["median_s"] > 0]
    if again is not None:
        pc = outcome(again)
        result_twice = sum(1 for k in pa if k not in pc or pc[k]["status"] != pa[k]["status"])
        print(f"two runs of one process: {result_twice} of {len(pa)} statuses differ")
    session = next(r for r in b if r.get("type") == "session")
    result = {
        "config": args.config, "ranks": args.ranks, "threads": args.threads, "points": len(pa),
        "single_s": one, "distributed_s": many, "ratio": many / one, "same_points": same,
        "single_twice_status_differences": result_twice if again is not None else None,
        "per_point_time_ratio_median": statistics.median(per_point) if per_point else None,
        "per_rank_points": {str(r): sum(1 for p in pb.values() if p.get("rank") == r) for r in range(args.ranks)},
        "differ": [{"point": list(k), "single": pa.get(k, {}).get("status"), "distributed": pb.get(k, {}).get("status"),
                    "predicted_s": [pa.get(k, {}).get("predicted_s"), pb.get(k, {}).get("predicted_s")],
                    "median_s": [pa.get(k, {}).get("median_s"), pb.get(k, {}).get("median_s")]} for k in differ],
        "isolation": session["isolation"], "machine": a[0]["machine"], "session": session,
    }
    print(f"{len(pa)} points; one process {one:.1f} s, mpirun -n {args.ranks} {many:.1f} s: ratio {many / one:.3f}; "
          f"same points: {same}; per-point time ratio (median) {result['per_point_time_ratio_median']:.3f}; "
          f"{result['per_rank_points']}; CPU {a[0]['machine']['cpu']} ({a[0]['machine']['vector_isa']})")
    for d in result["differ"]:
        print(f"  differs: {d}")
    if args.json:  # written whole, then moved over the old file: never a torn one
        with open(args.json + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(guarded("sweep_scaling.py", main))
