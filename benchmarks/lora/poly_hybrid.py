#!/usr/bin/python3
"""poly-hybrid against poly-cheb on llm instances whose outliers set the score range:
one bench_poly_hybrid run with interleaved repetitions, then per T_cs the median
times, poly-cheb's over poly-hybrid's (measured in the same run), the degrees and
ranks, the bulk range and outlier counts, each one's error against `exact` and
its a-priori bound (-1: not certified).

    /usr/bin/python3 benchmarks/lora/poly_hybrid.py --bench build/release/benchmarks/bench_poly_hybrid \
        --L 65536 --json reports/benchmarks/bench_poly_hybrid.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run(bench, L, repetitions):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([bench, f"--L={L}", f"--benchmark_repetitions={repetitions}",
                        "--benchmark_enable_random_interleaving=true", "--benchmark_format=json",
                        f"--benchmark_out={out.name}"], check=True, stdout=subprocess.DEVNULL)
        return json.load(open(out.name))


def summary(records):
    """run_name -> (median ms, last iteration record)."""
    times, last = {}, {}
    for b in records["benchmarks"]:
        if b.get("run_type") == "iteration":
            times.setdefault(b["run_name"], []).append(b["real_time"])
            last[b["run_name"]] = b
    return {name: (statistics.median(t), last[name]) for name, t in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default="build/release/benchmarks/bench_poly_hybrid")
    ap.add_argument("--L", type=int, default=65536)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--json", help="write the Google Benchmark records here (refused if it exists)")
    ap.add_argument("--records", help="summarise this earlier run's JSON instead of running")
    a = ap.parse_args(argv)
    if a.L < 16:
        ap.error("--L must be at least 16")
    if a.json and os.path.exists(a.json):
        ap.error(f"--json {a.json} exists; not overwriting it")
    records = json.load(open(a.records)) if a.records else run(a.bench, a.L, a.repetitions)
    if a.json:
        with open(a.json, "x") as f:
            json.dump(records, f, indent=1)
    ctx = records["context"]
    print(f"# {ctx.get('cpu', '?')} {ctx.get('cpu_id', '')} ({ctx.get('vector_isa', '?')}, kernels {ctx.get('kernel_target', '?')}), "
          f"OMP {ctx.get('omp_threads', '?')}, BLAS {ctx.get('blas_core', '?')} x {ctx.get('blas_threads', '?')}")
    s = summary(records)
    print("T_cs  cheb_ms  hybrid_ms  cheb/hybrid  degree(c/h)  rank(c/h)  T_used  T_bulk  m_q  m_k  err(c/h)  bound(c/h)")
    for name in sorted(n for n in s if n.startswith("poly-cheb/")):
        other = name.replace("poly-cheb/", "poly-hybrid/", 1)
        if other not in s:
            continue
        (tc, c), (th, h) = s[name], s[other]
        T_cs = name.split("T_cs:")[1].split("/")[0]
        print(f"{T_cs:>4}  {tc:8.0f}  {th:9.0f}  {tc / th:11.2f}  {c['degree']:.0f}/{h['degree']:.0f}  "
              f"{c['rank']:.0f}/{h['rank']:.0f}  {c['T_used']:.3f}  {h['T']:.3f}  {h['outlier_queries']:.0f}  "
              f"{h['outlier_keys']:.0f}  {c['err_max_rel']:.1e}/{h['err_max_rel']:.1e}  "
              f"{c['error_bound']:.1e}/{h['error_bound']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
