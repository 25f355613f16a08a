#!/usr/bin/python3
"""auto's plan time in two builds, paired point by point over a grid (docs/auto.md, "Regret").

    OPENBLAS_CORETYPE=Cooperlake /usr/bin/python3 benchmarks/lora/auto_plan_ab.py \\
        /work/old/build/release /work/main/build/release --d 4 --json out.json

Each build gets one worker process that imports its Python package and, per grid point,
generates the instance (as auto_regret.py does) and times lorafgc.plan on it when asked.
The two are asked in turn, five plans at a time, in alternating order, so both see the
same minutes of the machine; the report gives per point the median plan time of each and
their ratio (second over first), and whether the choices differ.

Both workers are pinned to one CPU (--cpu) with one OpenMP thread: unpinned, the two
processes settled on different cores of this 2-core VM, and an A/A comparison of the
same build scattered by +-30% per point (pinned: within a few percent). The plan itself
runs on one thread at these shapes (its products are single-thread kernels below 2^20 entries). Choices may
differ for a reason other than the code: each worker calibrates its own predictions, so
near ties (predictions within a few percent) can fall either way.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))

from command_line import guarded, write_json_whole  # noqa: E402

WORKER = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
import lorafgc
inst, target = None, float(sys.argv[2])
for line in sys.stdin:
    ask = json.loads(line)
    if "family" in ask:
        inst = lorafgc.lora.generate(L=ask["L"], d=ask["d"], r=4, gamma=1.0, mode=ask["mode"], dtype="float32",
                                     seed=1, score_bound=ask["T"], family=ask["family"])
        for _ in range(3):  # calibrations, certified polynomials, auto's costing records
            lorafgc.plan(inst, target_error=target)
        print(json.dumps({}), flush=True)
        continue
    seconds = []
    for _ in range(ask["plans"]):
        start = time.perf_counter()
        plan = lorafgc.plan(inst, target_error=target)
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds, "chosen": plan["chosen"]}), flush=True)
'''


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs=2, help="two build folders, each with python/lorafgc inside (first: the baseline)")
    ap.add_argument("--family", nargs="+", default=["gaussian", "llm", "adversarial"])
    ap.add_argument("--modes", nargs="+", default=["partial", "full"], choices=["partial", "full"])
    ap.add_argument("--d", nargs="+", type=int, default=[4])
    ap.add_argument("--L", nargs="+", type=int, default=[512, 1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--T", nargs="+", type=float, default=[0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0])
    ap.add_argument("--target", type=float, default=1e-3)
    ap.add_argument("--cpu", type=int, default=None, help="the CPU both workers run on (default: the last one allowed)")
    ap.add_argument("--json", help="write every point and the system description here")
    a = ap.parse_args(argv)
    for name in ("d", "L"):
        if min(getattr(a, name)) < 1:
            ap.error(f"--{name}: every value must be >= 1, got {getattr(a, name)}")
    if min(a.T) <= 0:
        ap.error(f"--T: every value must be > 0, got {a.T}")
    if not 0 < a.target < 1:
        ap.error(f"--target: must lie in (0, 1), got {a.target}")
    allowed = sorted(os.sched_getaffinity(0))
    if a.cpu is None:
        a.cpu = allowed[-1]
    elif a.cpu not in allowed:
        ap.error(f"--cpu: {a.cpu} is not one this process may run on ({allowed})")
    for build in a.builds:
        if not os.path.isfile(os.path.join(build, "python", "lorafgc", "__init__.py")):
            ap.error(f"builds: {build!r} has no python/lorafgc/__init__.py")
    return a


class Worker:
    def __init__(self, build, a):
        env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive")
        self.process = subprocess.Popen([sys.executable, "-c", WORKER, os.path.join(os.path.abspath(build), "python"),
                                         repr(a.target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env=env, preexec_fn=lambda: os.sched_setaffinity(0, {a.cpu}))

    def ask(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("a worker ended early (its error is above)")
        return json.loads(line)


def point(workers, family, mode, d, L, T):
    for w in workers:
        w.ask(dict(family=family, mode=mode, d=d, L=L, T=T))
    seconds, chosen = [[], []], [None, None]
    for turn in range(max(6, min(40, 100000 // L))):
        for i in ((0, 1) if turn % 2 else (1, 0)):
            answer = workers[i].ask(dict(plans=5))
            seconds[i] += answer["seconds"]
            chosen[i] = answer["chosen"]
    base, new = (statistics.median(s) for s in seconds)
    return dict(family=family, mode=mode, d=d, L=L, T=T, base_s=base, new_s=new, ratio=new / base,
                chosen_base=chosen[0], chosen_new=chosen[1])


def main(argv=None):
    a = parse(argv)
    workers = [Worker(b, a) for b in a.builds]
    rows = []
    for family in a.family:
        for mode in a.modes:
            for d in a.d:
                for L in a.L:
                    for T in a.T:
                        r = point(workers, family, mode, d, L, T)
                        rows.append(r)
                        differs = "" if r["chosen_base"] == r["chosen_new"] else \
                            f", chose {r['chosen_base']} -> {r['chosen_new']}"
                        print(f"{family} {mode} d={d} L={L} T={T:g}: plan {r['base_s'] * 1e6:.1f} -> "
                              f"{r['new_s'] * 1e6:.1f} us, ratio {r['ratio']:.2f}{differs}", flush=True)
    for w in workers:
        w.process.stdin.close()
        w.process.wait()
    ratios = sorted(r["ratio"] for r in rows)
    print(f"{len(rows)} point{'' if len(rows) == 1 else 's'} on CPU {a.cpu}: median ratio {statistics.median(ratios):.3f} "
          f"(10th-90th percentile {ratios[len(ratios) // 10]:.3f}-{ratios[(9 * len(ratios)) // 10]:.3f}), "
          f"plan time summed {sum(r['base_s'] for r in rows) * 1e3:.2f} -> {sum(r['new_s'] for r in rows) * 1e3:.2f} ms, "
          f"choices differ at {sum(r['chosen_base'] != r['chosen_new'] for r in rows)}")
    if a.json:
        sys.path.insert(0, os.path.join(os.path.abspath(a.builds[1]), "python"))
        import lorafgc
        write_json_whole(a.json, {"args": vars(a), "system": lorafgc.system_info(), "points": rows})
    return 0


if __name__ == "__main__":
    sys.exit(guarded("auto_plan_ab.py", main))
