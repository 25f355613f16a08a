#!/usr/bin/python3
"""Paired A/B timing of LoRA gradient algorithms across builds (or specs) on a noisy machine.

    /usr/bin/python3 benchmarks/core/ab_builds.py /work/old/build/release /work/main/build/release \\
        --L 4096 --d 8 --rounds 101

Each variant is BUILD[::SPEC] (SPEC defaults to --spec): a worker process imports that build's
Python package once and computes the gradients of one seeded instance whenever asked. The
variants are called one after another, in alternating order, for --rounds rounds, and the
report gives each variant's median and minimum time and the median over rounds of its time
divided by the first variant's time in the same round, with the quartiles of that ratio.

Why paired: on the shared 2-core VMs this suite runs on, the same binary's time moves by
20-40% within minutes (medians of 15 interleaved Google Benchmark repetitions of one kernel
differed by 25% between runs). Calls made a few milliseconds apart see the same machine, so
their ratio is steady: at L = 4096 (~20 ms a call) an A/A comparison gives 0.999 with 101
rounds, while at L = 16384 (~0.3 s) 21 rounds still scatter by +-8%. Prefer short calls and
many rounds. Workers wait passively between calls (OMP_WAIT_POLICY=passive): an idle OpenMP
team that spins would take the cores from the worker that is timed.
"""
import argparse
import os
import statistics
import subprocess
import sys

WORKER = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
import lorafgc
L, d, r, dtype, mode, spec = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
inst = lorafgc.lora.generate(L=L, d=d, r=r, gamma=1.0, dtype=dtype, mode=mode)
lorafgc.lora.gradients(**inst, algorithm=spec)  # warm-up: thread team, allocations
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    lorafgc.lora.gradients(**inst, algorithm=spec)
    print(time.perf_counter() - t0, flush=True)
'''


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("variants", nargs="+", help="BUILD[::SPEC]: a build folder (with python/ inside) and an algorithm spec")
    p.add_argument("--spec", default="exact", help="algorithm spec of variants that name none (default: exact)")
    p.add_argument("--L", type=int, default=4096)
    p.add_argument("--d", type=int, default=8)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--mode", default="partial", choices=["partial", "full"])
    p.add_argument("--rounds", type=int, default=101)
    a = p.parse_args()
    for name in ("L", "d", "r", "rounds"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    if len(a.variants) < 2:
        p.error("variants: give at least two to compare")
    return a


def start(variant, a):
    build, _, spec = variant.partition("::")
    package = os.path.join(os.path.abspath(build), "python")
    if not os.path.isfile(os.path.join(package, "lorafgc", "__init__.py")):
        sys.exit(f"ab_builds: variants: {build!r} has no python/lorafgc/__init__.py (build the lorafgc_python and lorafgc_python_package targets)")
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    w = subprocess.Popen([sys.executable, "-c", WORKER, package, str(a.L), str(a.d), str(a.r), a.dtype, a.mode,
                          spec or a.spec], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    if w.stdout.readline().strip() != "ready":
        sys.exit(f"ab_builds: variants: {variant!r} failed to start (its error is above)")
    return w


def main():
    a = parse_args()
    workers = [start(v, a) for v in a.variants]
    times = [[] for _ in workers]
    for rnd in range(a.rounds):
        order = range(len(workers)) if rnd % 2 == 0 else reversed(range(len(workers)))
        for i in order:
            workers[i].stdin.write("go\n")
            workers[i].stdin.flush()
            times[i].append(float(workers[i].stdout.readline()))
    for w in workers:
        w.stdin.close()
        w.wait()
    print(f"L={a.L} d={a.d} r={a.r} {a.mode} {a.dtype}, {a.rounds} alternated rounds")
    for v, t in zip(a.variants, times):
        ratios = sorted(x / y for x, y in zip(t, times[0]))
        q1, q3 = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        print(f"{v}: median {1e3 * statistics.median(t):.2f} ms, min {1e3 * min(t):.2f} ms, "
              f"paired ratio {statistics.median(ratios):.3f} (quartiles {q1:.3f}-{q3:.3f})")


if __name__ == "__main__":
    main()
