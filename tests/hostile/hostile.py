#!/usr/bin/python3
"""The hostile-input set: every reproducer of issue 12 and a fresh set, each run in
a subprocess with a time limit so that a crash or a hang is a finding, not a dead
runner. Each case expects either a clean refusal (exit status 2 or a ValueError /
lorafgc.NumericalError whose message names `word`) or a correct result (exit 0, or
a returned value with every number finite). Outcomes:

    refused  the expected clean refusal        correct  the expected finite result
    crash    killed by a signal, or an unexpected exit status or exception type
    hang     over the time limit (60 s)        defect   anything else: a silent
             coercion, a non-finite result, a message that names nothing

    /usr/bin/python3 tests/hostile/hostile.py [--only NAME_PART] [--verbose]

prints one line per case and the counts; exit status 1 if any case is a crash, a
hang or a defect. Needs PYTHONPATH to the built package and the binaries in
build/release (or LORAFGC_SWEEP, LORAFGC_RUN).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Subprocesses run in a temporary folder: the package path must be absolute.
os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
BUILD = os.path.join(ROOT, "build", "release")
SWEEP = os.environ.get("LORAFGC_SWEEP", os.path.join(BUILD, "tools", "lorafgc-sweep"))
RUN = os.environ.get("LORAFGC_RUN", os.path.join(BUILD, "tools", "lorafgc-run"))
BENCH_EXACT = os.environ.get("LORAFGC_BENCH_EXACT", os.path.join(BUILD, "benchmarks", "bench_exact"))
PYTHON = "/usr/bin/python3"
TIME_LIMIT = 60

TINY = {"algorithms": ["exact"], "L": [32], "d": [4], "r": [2], "T": [1.0], "repetitions": 1}

# Runs a Python expression in a fresh interpreter and reports what happened as JSON.
PY_HARNESS = textwrap.dedent("""
    import json, math, sys
    import numpy as np
    import lorafgc

    def finite(x):
        if isinstance(x, dict):
            return all(finite(v) for v in x.values())
        if isinstance(x, (list, tuple)):
            return all(finite(v) for v in x)
        if isinstance(x, np.ndarray):
            return x.dtype.kind not in "fc" or bool(np.isfinite(x).all())
        if isinstance(x, float):
            return math.isfinite(x)
        return True

    def inst(**kw):
        args = dict(L=32, d=4, r=2, gamma=1.0, seed=1)
        args.update(kw)
        return lorafgc.lora.generate(**args)

    try:
        value = (lambda: ({expr}))()
        print(json.dumps({{"outcome": "returned", "finite": finite(value)}}))
    except (ValueError, lorafgc.NumericalError) as e:
        print(json.dumps({{"outcome": "raised", "type": type(e).__name__, "message": str(e)}}))
    except BaseException as e:
        print(json.dumps({{"outcome": "other", "type": type(e).__name__, "message": str(e)[:300]}}))
""")


class Case:
    def __init__(self, name, expect, word=None):
        self.name, self.expect, self.word = name, expect, word  # expect: "refuse", "ok" or "either"

    def judge(self, refused, message, ok, finite=True):
        """refused: a clean refusal happened; ok: a normal result."""
        if refused:
            named = self.word is None or self.word.lower() in message.lower()
            if self.expect in ("refuse", "either") and named:
                return "refused"
            return "defect"
        if ok:
            if self.expect in ("ok", "either") and finite:
                return "correct"
            return "defect"
        return "crash"


class Py(Case):
    def __init__(self, name, expr, expect="refuse", word=None):
        super().__init__(name, expect, word)
        self.expr = expr

    def run(self, tmp):
        p = subprocess.run([PYTHON, "-c", PY_HARNESS.format(expr=self.expr)], capture_output=True, text=True,
                           timeout=TIME_LIMIT)
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            return "crash", f"exit {p.returncode}: {p.stderr.strip()[-200:]}"
        if r["outcome"] == "raised":
            return self.judge(True, r["message"], False), f"{r['type']}: {r['message'][:150]}"
        if r["outcome"] == "returned":
            return self.judge(False, "", True, r["finite"]), "returned" + ("" if r["finite"] else " NON-FINITE")
        return "crash", f"{r['type']}: {r['message'][:150]}"


class Cli(Case):
    """A command line; `files` maps names to contents written into the case's folder
    (a dict is written as JSON, bytes and str as they are); {dir} in args is that folder."""

    def __init__(self, name, args, expect="refuse", word=None, files=None, check=None):
        super().__init__(name, expect, word)
        self.args, self.files, self.check = args, files or {}, check

    def run(self, tmp):
        for fname, content in self.files.items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(os.path.join(tmp, fname), mode) as f:
                f.write(json.dumps(content) if isinstance(content, dict) else content)
        args = [a.format(dir=tmp) for a in self.args]
        p = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=TIME_LIMIT, cwd=tmp,
                           env=dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", "")))
        message = (p.stderr.strip() or p.stdout.strip())[-300:]
        if p.returncode < 0 or p.returncode not in (0, 1, 2):
            return "crash", f"exit {p.returncode}: {message[-200:]}"
        if p.returncode == 2:
            return self.judge(True, p.stderr, False), message.splitlines()[-1][:200] if message else ""
        if p.returncode == 0:
            finite = self.check(tmp, p) if self.check else True
            return self.judge(False, "", True, finite), "exit 0" + ("" if finite else ", check failed")
        return "defect", f"exit 1: {message[-200:]}"


class Special(Case):
    """A scripted case: fn(tmp) returns (outcome, detail)."""

    def __init__(self, name, fn):
        super().__init__(name, "special")
        self.fn = fn

    def run(self, tmp):
        return self.fn(tmp)


def config(**change):
    c = dict(TINY)
    c.update(change)
    return c


def nested(depth):
    return "[" * depth + "]" * depth


def raw_config(text_for_key, key="L"):
    """A config file with the raw JSON text `text_for_key` as the value of `key`."""
    base = {k: v for k, v in TINY.items() if k != key}
    return json.dumps(base)[:-1] + f', "{key}": {text_for_key}}}'


def sweep_check(name, cfg, word, expect="refuse"):
    return Cli(name, [SWEEP, "check", "c.json"], expect, word, {"c.json": cfg})


def sweep_run(name, cfg, word, expect="refuse", out="r.jsonl"):
    return Cli(name, [SWEEP, "run", "c.json", "-o", out, "-q"], expect, word, {"c.json": cfg})


def lines_of(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace").splitlines()


def all_json(path):
    try:
        return [json.loads(line) for line in lines_of(path)]
    except json.JSONDecodeError:
        return None


def concurrent_writers(tmp):
    cfg = config(algorithms=["exact-reference"], L=[512, 1024, 2048], d=[8], repetitions=3)
    with open(os.path.join(tmp, "c.json"), "w") as f:
        json.dump(cfg, f)
    first = subprocess.Popen([SWEEP, "run", "c.json", "-o", "r.jsonl", "-q"], cwd=tmp, stderr=subprocess.PIPE, text=True)
    for _ in range(100):  # until the first writer has written its header
        if os.path.exists(os.path.join(tmp, "r.jsonl")) and os.path.getsize(os.path.join(tmp, "r.jsonl")) > 0:
            break
        time.sleep(0.02)
    second = subprocess.run([SWEEP, "run", "c.json", "-o", "r.jsonl", "-q"], cwd=tmp, capture_output=True,
                            text=True, timeout=TIME_LIMIT)
    first.wait(timeout=TIME_LIMIT)
    records = all_json(os.path.join(tmp, "r.jsonl")) or []
    keys = [(r["algorithm"], r["L"]) for r in records if r.get("type") == "point"]
    if first.returncode != 0:
        return "crash", f"first writer exit {first.returncode}"
    if second.returncode == 2 and "lock" in second.stderr and len(keys) == len(set(keys)) == 3:
        return "refused", second.stderr.strip().splitlines()[-1][:150]
    return "defect", f"second writer exit {second.returncode}, {len(keys)} records, {len(set(keys))} distinct"


def torn_resume(cut_in_header):
    def fn(tmp):
        with open(os.path.join(tmp, "c.json"), "w") as f:
            json.dump(config(L=[32, 64]), f)
        run = lambda: subprocess.run([SWEEP, "run", "c.json", "-o", "r.jsonl", "-q"], cwd=tmp, capture_output=True,
                                     text=True, timeout=TIME_LIMIT)
        if run().returncode != 0:
            return "crash", "first run failed"
        path = os.path.join(tmp, "r.jsonl")
        data = open(path, "rb").read()
        lines = data.splitlines(keepends=True)
        torn = lines[0][:len(lines[0]) // 2] if cut_in_header else b"".join(lines[:2]) + lines[2][:20]
        with open(path, "wb") as f:
            f.write(torn)
        again = run()
        records = all_json(path)
        if again.returncode != 0:
            return ("defect" if again.returncode in (1, 2) else "crash"), again.stderr.strip()[-150:]
        points = [r for r in records or [] if r.get("type") == "point"]
        side = [f for f in os.listdir(tmp) if f.startswith("r.jsonl.torn")]
        if records is not None and len(points) == 2 and side:
            return "correct", f"resumed, torn text in {side[0]}"
        return "defect", f"valid JSON: {records is not None}, points {len(points)}, side files {side}"
    return fn


def foreign_file_untouched(tmp):
    with open(os.path.join(tmp, "c.json"), "w") as f:
        json.dump(TINY, f)
    path = os.path.join(tmp, "r.jsonl")
    with open(path, "w") as f:
        f.write("precious data\n")
    p = subprocess.run([SWEEP, "run", "c.json", "-o", "r.jsonl"], cwd=tmp, capture_output=True, text=True,
                       timeout=TIME_LIMIT)
    if p.returncode == 2 and open(path).read() == "precious data\n":
        return "refused", p.stderr.strip()[-150:]
    return "defect", f"exit {p.returncode}, file now {open(path).read()[:40]!r}"


def report_duplicates(tmp):
    with open(os.path.join(tmp, "c.json"), "w") as f:
        json.dump(TINY, f)
    if subprocess.run([SWEEP, "run", "c.json", "-o", "r.jsonl", "-q"], cwd=tmp, timeout=TIME_LIMIT).returncode:
        return "crash", "sweep failed"
    lines = lines_of(os.path.join(tmp, "r.jsonl"))
    with open(os.path.join(tmp, "r.jsonl"), "a") as f:
        f.write(lines[1] + "\n")
    p = subprocess.run([PYTHON, os.path.join(ROOT, "tools", "lorafgc_report.py"), "report", "r.jsonl", "--out", "rep"],
                       cwd=tmp, capture_output=True, text=True, timeout=TIME_LIMIT)
    if p.returncode == 2 and "twice" in p.stderr:
        return "refused", p.stderr.strip()[-150:]
    return "defect", f"exit {p.returncode}: {p.stderr.strip()[-150:]}"


def no_inf_in_output(tmp, p):
    return not re.search(r"\b(inf|nan)\b", p.stdout, re.IGNORECASE)


X_BIG = "dict(inst(dtype='float32'), X=np.full((32, 4), 1e30, np.float32))"
CASES = [
    # -- 1. unbounded resources --
    Cli("run: exact:threads=100000", [RUN, "--L", "64", "--algorithms", "exact:threads=100000"], word="threads"),
    sweep_check("sweep: exact:threads=100000", config(algorithms=["exact:threads=100000"]), "threads"),
    sweep_check("sweep: threads=100000", config(threads=100000), "threads"),
    Py("py: gradients algorithm exact:threads=100000", "lorafgc.lora.gradients(**inst(), algorithm='exact:threads=100000')", word="threads"),
    Py("py: gradients threads=100000 kwarg", "lorafgc.lora.gradients(**inst(), algorithm='poly-cheb', threads=100000)", word="threads"),
    Py("py: set_num_threads(100000)", "lorafgc.set_num_threads(100000)", word="threads"),
    # Under an address-space limit, 8 threads made OpenBLAS's allocator spin forever.
    Cli("run: 8 threads under ulimit -v 1.5 GB", ["/bin/bash", "-c", f"ulimit -v 1500000; exec {RUN} --L 1024 --d 16 "
                                                  "--threads 8 --algorithms exact --repeat 1"], word="threads"),
    # -- 2. uncaught exceptions in the CLIs --
    Cli("sweep: output /dev/full", [SWEEP, "run", "c.json", "-o", "/dev/full", "-q"], word="/dev/full", files={"c.json": TINY}),
    Cli("sweep: output in a missing folder", [SWEEP, "run", "c.json", "-o", "{dir}/no/such/r.jsonl"], word="no/such", files={"c.json": TINY}),
    sweep_check("sweep: L = 2^40", config(L=[1099511627776]), "'L'"),
    sweep_check("sweep: d = 1e6", config(d=[1000000]), "'d'"),
    sweep_check("sweep: batch = 1e12", config(batch=1000000000000), "batch"),
    Cli("sweep: T = 1e400 (out of double range)", [SWEEP, "check", "c.json"], word="T", files={"c.json": raw_config("[1e400]", "T")}),
    Cli("run: --L 2^40", [RUN, "--L", "1099511627776"], word="L"),
    Cli("run: --d 1e6", [RUN, "--d", "1000000"], word="d"),
    Cli("run: --batch 1e12", [RUN, "--batch", "1000000000000"], word="batch"),
    Cli("bench_exact: --d=abc", [BENCH_EXACT, "--d=abc", "--benchmark_list_tests"], word="--d"),
    # -- 3. deep nesting --
    Cli("sweep: 100000 nested [ in a value", [SWEEP, "check", "c.json"], word="deep", files={"c.json": raw_config(nested(100000))}),
    Cli("sweep: 100000 nested [ in comment", [SWEEP, "check", "c.json"], word="deep", files={"c.json": raw_config(nested(100000), "comment")}),
    # -- 4. concurrent writers --
    Special("sweep: two writers on one results file", concurrent_writers),
    Special("report: a results file with a point twice", report_duplicates),
    # -- 5. hangs --
    Py("py: IcgdTransformer relu_units=1e9", "lorafgc.icl.IcgdTransformer(N=3, K=8, d=20, n=8, relu_units=10**9)", word="relu_units"),
    Py("py: IcgdTransformer fit_tolerance=1e-30", "lorafgc.icl.IcgdTransformer(N=3, K=8, d=20, n=8, fit_tolerance=1e-30)", word="fit_tolerance"),
    Py("py: IcgdTransformer steps=1e9", "lorafgc.icl.IcgdTransformer(N=2, K=2, d=2, n=4, steps=10**9, relu_units=8)", word="steps"),
    Py("py: IcgdTransformer n=1e9", "lorafgc.icl.IcgdTransformer(N=2, K=2, d=2, n=10**9, relu_units=8)", word="n"),
    # -- 6. silent Inf/NaN --
    Py("py: looped.forward, large prompt, many loops",
       "lorafgc.looped.forward(np.full((5, 9), 10.0), np.eye(5), np.eye(5), loops=200)", word="Z"),
    Py("py: looped.test_losses, huge A", "lorafgc.looped.test_losses(1e200 * np.eye(4), np.zeros(4), n=8, loops=3, tasks=50)", word="A"),
    Py("py: icl.loss, softplus with huge w", "lorafgc.icl.loss(np.full(4*3+3*1, 1e200), np.ones((5, 4)), np.ones(5), N=2, K=3)", "either", word="w"),
    Py("py: icl.gradient, huge X", "lorafgc.icl.gradient(np.full(4*3+3*1, 1.0), np.full((5, 4), 1e300), np.ones(5), N=2, K=3)", "either", word="X"),
    Py("py: generate gamma=1e300 float32", "inst(gamma=1e300, dtype='float32')", word="gamma"),
    Py("py: generate score_bound=1e300 float32", "inst(score_bound=1e300, dtype='float32')", word="score_bound"),
    sweep_check("sweep: T = 1e308 in float32", config(T=[1e308]), "T"),
    # A degree the user fixes is run; when it certifies nothing the result says
    # certified = 0 and reports no bound (it used to report error_bound = inf).
    Cli("run: poly-cheb:degree=0", [RUN, "--L", "64", "--d", "4", "--T", "2", "--algorithms", "poly-cheb:degree=0"],
        "ok", check=lambda tmp, p: "certified=0" in p.stdout and no_inf_in_output(tmp, p)),
    Py("py: gradients poly-cheb:degree=0",
       "(lambda g: g if g['info']['certified'] == 0 and 'error_bound' not in g['info'] else None)("
       "lorafgc.lora.gradients(**inst(score_bound=2.0), algorithm='poly-cheb:degree=0'))", "ok"),
    Cli("run: --T 1e300 prints finite norms", [RUN, "--L", "64", "--d", "4", "--T", "1e300", "--dtype", "float64", "--repeat", "1"],
        "either", word="score_bound", check=no_inf_in_output),
    # -- 7. silent coercion --
    sweep_check("sweep: L = 64.7", config(L=[64.7]), "'L'"),
    sweep_check("sweep: L = true", config(L=[True]), "'L'"),
    sweep_check("sweep: repetitions = 2^32 + 1", config(repetitions=4294967297), "repetitions"),
    sweep_check("sweep: seed = -1", config(seed=-1), "seed"),
    Cli("sweep: duplicate key", [SWEEP, "check", "c.json"], word="'L'", files={"c.json": raw_config("[64]")[:-1] + ', "L": [128]}'}),
    sweep_check("sweep: L = 1e30", config(L=[1e30]), "'L'"),
    sweep_check("sweep: time_limit_s = true", config(time_limit_s=True), "time_limit_s"),
    sweep_check("sweep: batch = 2.0", config(batch=2.0), "batch"),
    sweep_check("sweep: name = 5", config(name=5), "name"),
    # -- 8. messages that name nothing --
    Py("py: generate L = 2^40", "inst(L=2**40)", word="L"),
    Py("py: generate batch = 2.5", "inst(batch=2.5)", word="batch"),
    Py("py: generate L = 64.5", "inst(L=64.5)", word="L"),
    Py("py: generate L = True", "inst(L=True)", word="L"),
    Py("py: generate d = 1e6", "inst(d=10**6)", word="d"),
    Py("py: IcgdTransformer relu_units=-5", "lorafgc.icl.IcgdTransformer(N=2, K=2, d=2, n=4, relu_units=-5)", word="relu_units"),
    Py("py: looped.train steps=1e12", "lorafgc.looped.train(d=4, n=8, loops=2, steps=10**12)", word="steps"),
    Py("py: looped.train batch=1e12", "lorafgc.looped.train(d=4, n=8, loops=2, batch=10**12)", word="batch"),
    Py("py: looped.train d=1e6", "lorafgc.looped.train(d=10**6, n=8, loops=2)", word="d"),
    Py("py: looped.gd_reference tasks=1e12", "lorafgc.looped.gd_reference(4, 8, 2, tasks=10**12)", word="tasks"),
    Py("py: looped.anisotropic_covariance d=1e6", "lorafgc.looped.anisotropic_covariance(10**6, 10.0)", word="d"),
    Py("py: icl.projected_gd steps=1e12", "lorafgc.icl.projected_gd(np.zeros(4*3+3), np.ones((5, 4)), np.ones(5), N=2, K=3, steps=10**12)", word="steps"),
    Py("py: icl.predict N=2^40", "lorafgc.icl.predict(np.zeros(3), np.ones((5, 4)), N=2**40, K=3)", word="N"),
    Cli("run: --repeat 0", [RUN, "--repeat", "0"], word="repeat"),
    Cli("run: --threads -3", [RUN, "--threads", "-3"], word="threads"),
    Cli("run: --beta nan", [RUN, "--beta", "nan"], word="beta"),
    # -- 9. torn files --
    Special("sweep: torn header resumes", torn_resume(True)),
    Special("sweep: torn last line resumes", torn_resume(False)),
    Special("sweep: a foreign output file is refused and untouched", foreign_file_untouched),
    # -- fresh --
    sweep_check("sweep: eps = 2 in a spec", config(algorithms=["poly-cheb:eps=2"]), "eps"),
    sweep_check("sweep: dtype float16", config(dtype=["float16"]), "dtype"),
    sweep_check("sweep: time_limit_s = 1e400", raw_config("1e400", "time_limit_s"), "time_limit_s"),
    Cli("sweep: config is a folder", [SWEEP, "check", "{dir}"], word="config"),
    Cli("sweep: empty config file", [SWEEP, "check", "c.json"], word="config", files={"c.json": ""}),
    Cli("sweep: binary config file", [SWEEP, "check", "c.json"], word="config", files={"c.json": b"\xff\xfe\x00\x01"}),
    sweep_check("sweep: max_reference_L = -1", config(max_reference_L=-1), "max_reference_L"),
    sweep_check("sweep: r = 0", config(r=[0]), "'r'"),
    sweep_check("sweep: target_error = nan (a string)", config(target_error="nan"), "target_error"),
    sweep_check("sweep: min_time_s = -1", config(min_time_s=-1), "min_time_s"),
    sweep_check("sweep: min_time_s = 1e6", config(min_time_s=1e6), "min_time_s"),
    sweep_check("sweep: family 'bert'", config(family="bert"), "family"),
    sweep_check("sweep: outlier_channels = 2^62", config(family={"name": "llm", "outlier_channels": 2**62}),
                "outlier_channels"),
    sweep_check("sweep: family nested list", config(family=[["llm"]]), "family"),
    Cli("run: --family bert", [RUN, "--L", "64", "--family", "bert"], word="family"),
    Cli("run: --outlier-channels -3", [RUN, "--L", "64", "--family", "llm", "--outlier-channels", "-3"],
        word="outlier_channels"),
    Py("py: generate with family=None", "lorafgc.lora.generate(64, 8, 2, 1.0, family=None)", word="family"),
    Py("py: generate with adversarial_noise=inf",
       "lorafgc.lora.generate(64, 8, 2, 1.0, family='adversarial', adversarial_noise=float('inf'))",
       word="adversarial_noise"),
    sweep_check("sweep: poly-hybrid outliers = -2", config(algorithms=["poly-hybrid:outliers=-2"]), "outliers"),
    Cli("run: poly-hybrid outliers = x", [RUN, "--L", "64", "--algorithms", "poly-hybrid:outliers=x"], word="outliers"),
    Py("py: poly-hybrid outliers = 0.5", "lorafgc.lora.gradients(**inst(), algorithm='poly-hybrid', outliers=0.5)",
       word="outliers"),
    sweep_check("sweep: favor features = 0", config(algorithms=["favor:features=0"]), "features"),
    Py("py: poly-sketch sketch = 0", "lorafgc.lora.gradients(**inst(), algorithm='poly-sketch', sketch=0)", word="sketch"),
    Py("py: a narrow poly-sketch refuses a non-positive normaliser or runs",
       "lorafgc.lora.gradients(**inst(L=400, score_bound=6.0), algorithm='poly-sketch:sketch=1')", expect="either"),
    sweep_check("sweep: auto target_error = 0", config(algorithms=["auto:target_error=0"]), "target_error"),
    sweep_check("sweep: auto target_error = 1", config(algorithms=["auto:target_error=1"]), "target_error"),
    Cli("run: auto margin = 0.5", [RUN, "--L", "64", "--algorithms", "auto:margin=0.5"], word="margin"),
    Py("py: plan target_error = -1", "lorafgc.plan(inst(), target_error=-1.0, calibrated=False)", word="target_error"),
    Py("py: plan target_error = 'x'", "lorafgc.plan(inst(), target_error='x', calibrated=False)", word="target_error"),
    Py("py: auto with an unreachable target names the closest",
       "lorafgc.lora.gradients(**inst(dtype='float32'), algorithm='auto:target_error=1e-9,calibrated=false')",
       word="closest"),
    sweep_run("sweep: a tiny sweep runs", TINY, None, expect="ok"),
    Cli("report: missing results file", [PYTHON, os.path.join(ROOT, "tools", "lorafgc_report.py"), "report", "nope.jsonl", "--out", "x"], word="nope.jsonl"),
    Cli("report: results file that is JSON garbage", [PYTHON, os.path.join(ROOT, "tools", "lorafgc_report.py"), "report", "g.jsonl", "--out", "x"],
        word="g.jsonl", files={"g.jsonl": "[1, 2, 3]\n"}),
    Cli("torch_compare: --L -5", [PYTHON, os.path.join(ROOT, "benchmarks", "lora", "torch_compare.py"), "--L", "-5"], word="--L"),
    Cli("looped driver: nested depth", [PYTHON, os.path.join(ROOT, "tools", "looped_experiments.py"), "c.json", "--out", "o.json"],
        word="c.json", files={"c.json": '{"d": ' + nested(100000) + "}"}),
    Py("py: gradients with X of 0 rows", "lorafgc.lora.gradients(**dict(inst(), X=np.zeros((0, 4))))", word="X"),
    Py("py: gradients with mixed dtypes", "lorafgc.lora.gradients(**dict(inst(), Wq=np.eye(4, dtype=np.float32)))", word="Wq"),
    Py("py: gradients with adapters {'q': (B,)}", "lorafgc.lora.gradients(**dict(inst(), adapters={'q': (np.ones((4, 2)),)}))", word="adapters"),
    Py("py: gradients alpha = nan", "lorafgc.lora.gradients(**dict(inst(), alpha=float('nan')))", word="alpha"),
    Py("py: gradients beta = inf", "lorafgc.lora.gradients(**dict(inst(), beta=float('inf')))", word="beta"),
    Py("py: gradients poly-cheb:block=-1", "lorafgc.lora.gradients(**inst(), algorithm='poly-cheb:block=-1')", word="block"),
    Py("py: gradients weights='maybe'", "lorafgc.lora.gradients(**inst(), weights='maybe')", word="weights"),
    Py("py: gradients on 1e30 entries in float32", f"lorafgc.lora.gradients(**{X_BIG})", "either", word="float"),
    Py("py: gradients on 1e-40 entries (float32 subnormals)",
       "lorafgc.lora.gradients(**dict(inst(dtype='float32'), X=np.full((32, 4), 1e-40, np.float32)))", "ok"),
    Py("py: gradients on a strided X", "lorafgc.lora.gradients(**dict(inst(), X=np.asfortranarray(inst(L=64)['X'])[::2]))", "ok"),
    Py("py: gradients on a read-only X", "lorafgc.lora.gradients(**dict(inst(), X=np.lib.stride_tricks.as_strided(inst()['X'], writeable=False)))", "ok"),
    Py("py: gradients with a batch of 0", "lorafgc.lora.gradients(**dict(inst(), X=np.zeros((0, 32, 4)), Y=np.zeros((0, 32, 4))))", word="X"),
    Py("py: generate mode='diag'", "inst(mode='diag')", word="mode"),
    Py("py: generate dtype=int", "inst(dtype='int32')", word="dtype"),
    Py("py: looped.forward Z with NaN", "lorafgc.looped.forward(np.full((5, 9), np.nan), np.eye(5), np.eye(5), loops=1)", word="Z"),
    Py("py: looped.train learning_rate=nan", "lorafgc.looped.train(d=4, n=8, loops=2, steps=2, learning_rate=float('nan'))", word="learning_rate"),
    Py("py: looped.train eval_tasks=-1", "lorafgc.looped.train(d=4, n=8, loops=2, steps=2, eval_tasks=-1)", word="eval_tasks"),
    Py("py: icl.loss with NaN in Y", "lorafgc.icl.loss(np.zeros(4*3+3), np.ones((5, 4)), np.full(5, np.nan), N=2, K=3)", word="Y"),
    # -- attention on Q, K, V (issue 15) --
    Py("py: attention exact-reference at L = 200000", "lorafgc.lora.attention_forward(*[np.zeros((1, 1, 200000, 2), "
       "np.float32)] * 3, algorithm='exact-reference')", word="length"),
    Py("py: attention q with NaN", "lorafgc.lora.attention_forward(np.full((1, 2, 8, 4), np.nan), np.zeros((1, 2, 8, 4)), "
       "np.zeros((1, 2, 8, 4)))", word="q"),
    Py("py: attention head_dim 70000", "lorafgc.lora.attention_forward(*[np.zeros((1, 1, 1, 70000), np.float32)] * 3)",
       word="head_dim"),
    Py("py: attention k of another dtype", "lorafgc.lora.attention_forward(np.zeros((1, 1, 8, 4)), np.zeros((1, 1, 8, 4), "
       "np.float32), np.zeros((1, 1, 8, 4)))", word="k"),
    Py("py: attention poly-cheb on scores of about 1e3", "lorafgc.lora.attention_forward(*[np.random.default_rng(1)"
       ".normal(0, 30, (1, 1, 64, 8))] * 3, algorithm='poly-cheb')", "either", word="degree"),
    Py("py: torch attention scale=inf", "__import__('lorafgc.torch').torch.attention(*[__import__('torch').zeros(1, 1, 8, 4)] "
       "* 3, scale=float('inf'))", word="scale"),
    Py("py: torch attention on a zero-stride view", "__import__('lorafgc.torch').torch.attention(*[__import__('torch')"
       ".zeros(1).expand(1, 2, 64, 4)] * 3, causal=True).numpy()", "ok"),
    Py("py: a normal gradient call", "lorafgc.lora.gradients(**inst(), algorithm='poly-cheb')", "ok"),
    Py("py: a normal looped training", "lorafgc.looped.train(d=3, n=6, loops=2, steps=5, eval_every=5, eval_tasks=10, test_tasks=10)", "ok"),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="run the cases whose name contains this")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    counts = {}
    bad = 0
    for case in CASES:
        if args.only and args.only not in case.name:
            continue
        if isinstance(case, Cli) and not os.path.exists(case.args[0]):
            counts["skipped"] = counts.get("skipped", 0) + 1  # e.g. benchmarks not built
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                outcome, detail = case.run(tmp)
            except subprocess.TimeoutExpired:
                outcome, detail = "hang", f"over {TIME_LIMIT} s"
        counts[outcome] = counts.get(outcome, 0) + 1
        failed = outcome in ("crash", "hang", "defect")
        bad += failed
        if failed or args.verbose:
            print(f"{outcome:8} {case.name}: {detail}")
    tried = sum(counts.values())
    print(f"tried {tried}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
