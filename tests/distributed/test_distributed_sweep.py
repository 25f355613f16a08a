"""lorafgc-sweep under mpirun (tools/sweep/distributed.hpp): the same points as one
process, a kill -9 of any rank mid-sweep loses and duplicates nothing on resume,
and bad launches are refused by rank 0 with every rank exiting non-zero and the
results file untouched. ctest passes the binaries (LORAFGC_SWEEP, LORAFGC_MPIEXEC)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from report.results import load_results  # noqa: E402

SWEEP = os.environ.get("LORAFGC_SWEEP", os.path.join(ROOT, "build/release/tools/lorafgc-sweep"))
MPIEXEC = os.environ.get("LORAFGC_MPIEXEC", "mpirun")
AS_ROOT = ["--allow-run-as-root"] if os.geteuid() == 0 else []

# 16 points in about a second (shared with the sweep_scaling smoke test).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_sweep.json")) as f:
    TINY = json.load(f)
POINTS = 16
# Points of about 0.1 s each (min_time_s), so that a kill lands mid-sweep.
SLOW = dict(TINY, name="slow", min_time_s=0.1, T=[0.5, 1.0, 2.0])


def write_config(tmp_path, config, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return str(path)


def mpirun(ranks, *args, timeout=300):
    command = [MPIEXEC, "--oversubscribe", *AS_ROOT, "-n", str(ranks), SWEEP, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def lines(path):
    """The file's complete lines (a sweep may be appending the last one)."""
    text = open(path).read()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]


def points(path):
    return [r for r in lines(path) if r.get("type") == "point"]


def outcome(path):
    """What a sweep found per point (times aside): key -> status."""
    return {(p["algorithm"], p["mode"], p["L"], p["d"], p["norm"]): p["status"] for p in points(path)}


@pytest.mark.parametrize("ranks", [2, 3])
def test_same_points_as_one_process(tmp_path, ranks):
    config = write_config(tmp_path, TINY)
    alone, shared = tmp_path / "alone.jsonl", tmp_path / "shared.jsonl"
    assert subprocess.run([SWEEP, "run", config, "-o", str(alone), "-q"], capture_output=True).returncode == 0
    result = mpirun(ranks, "run", config, "-o", str(shared), "-q")
    assert result.returncode == 0, result.stderr
    assert outcome(shared) == outcome(alone) and len(outcome(shared)) == POINTS
    by_key = {(p["algorithm"], p["mode"], p["L"], p["d"], p["norm"]): p for p in points(alone)}
    for p in points(shared):  # the single-process record, plus the rank
        assert set(p) == set(by_key[(p["algorithm"], p["mode"], p["L"], p["d"], p["norm"])]) | {"rank"}
    header, measured = load_results(str(shared))  # no point twice
    assert len(measured) == POINTS and {p["rank"] for p in measured} <= set(range(ranks))
    assert all(p["status"] == "ok" and p["threads"]["omp"] >= 1 for p in measured)
    session = [r for r in lines(shared) if r["type"] == "session"]
    assert len(session) == 1 and len(session[0]["ranks"]) == ranks
    for rank in session[0]["ranks"]:
        assert {"host", "pid", "cpus", "threads", "machine"} <= set(rank) and rank["machine"]["vector_isa"]
    cpus = [set(rank["cpus"]) for rank in session[0]["ranks"]]
    overlap = any(cpus[a] & cpus[b] for a in range(ranks) for b in range(a))
    assert ("may both run on CPU" in session[0]["isolation"]) == overlap
    assert ("CPUs of its own" in session[0]["isolation"]) == (not overlap and all(
        max(rank["threads"].values()) <= len(rank["cpus"]) for rank in session[0]["ranks"]))


@pytest.mark.parametrize("victim", [0, 1])
def test_kill_any_rank_then_resume(tmp_path, victim):
    config = write_config(tmp_path, SLOW)
    out = tmp_path / "r.jsonl"
    command = [MPIEXEC, "--oversubscribe", *AS_ROOT, "-n", "2", SWEEP, "run", config, "-o", str(out), "-q"]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or len(points(out)) < 3):
        time.sleep(0.05)
    assert job.poll() is None, "the sweep ended before the kill: make SLOW longer"
    session = [r for r in lines(out) if r["type"] == "session"]
    assert session, "no session record within 120 s"
    os.kill(session[0]["ranks"][victim]["pid"], signal.SIGKILL)
    job.communicate(timeout=120)
    assert job.returncode != 0
    before = out.read_bytes()
    kept = len(points(out))
    assert 3 <= kept < 24, "the kill should land mid-sweep"
    result = mpirun(2, "run", config, "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    after = out.read_bytes()
    cut = before[: before.rfind(b"\n") + 1]  # a line torn by the kill is set aside
    assert after.startswith(cut), "records written before the kill must stay as they were"
    _, measured = load_results(str(out))  # raises on a point recorded twice
    assert len(measured) == 24 and len(outcome(out)) == 24


def test_more_ranks_than_points_refused(tmp_path):
    config = write_config(tmp_path, dict(TINY, modes=["partial"], L=[64], T=[0.5]))  # 2 points
    result = mpirun(3, "run", config, "-o", str(tmp_path / "r.jsonl"))
    assert result.returncode != 0
    assert "mpirun started 3 ranks for a config of 2 points" in result.stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_configs_that_differ_between_ranks_refused(tmp_path):
    a = write_config(tmp_path, TINY, "a.json")
    b = write_config(tmp_path, dict(TINY, repetitions=3), "b.json")
    out = tmp_path / "r.jsonl"
    command = [MPIEXEC, "--oversubscribe", *AS_ROOT, "-n", "1", SWEEP, "run", a, "-o", str(out), ":",
               "-n", "1", SWEEP, "run", b, "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "the config differs between ranks" in result.stderr
    assert not out.exists()
    missing = [MPIEXEC, "--oversubscribe", *AS_ROOT, "-n", "1", SWEEP, "run", a, "-o", str(out), ":",
               "-n", "1", SWEEP, "run", str(tmp_path / "nowhere.json"), "-o", str(out)]
    result = subprocess.run(missing, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "rank 1 cannot use the config" in result.stderr and "nowhere.json" in result.stderr


def test_unusable_results_file_refused_and_untouched(tmp_path):
    config = write_config(tmp_path, TINY)
    result = mpirun(2, "run", config, "-o", str(tmp_path))
    assert result.returncode != 0 and "output: cannot open" in result.stderr
    other = tmp_path / "other.jsonl"
    assert subprocess.run([SWEEP, "run", write_config(tmp_path, dict(TINY, L=[64]), "o.json"), "-o", str(other),
                           "-q"]).returncode == 0
    before = other.read_bytes()
    result = mpirun(2, "run", config, "-o", str(other))
    assert result.returncode != 0 and "holds results of a different config" in result.stderr
    assert other.read_bytes() == before


def test_more_ranks_than_chains_warned(tmp_path):
    # The tiny config: 16 points in 4 chains (mode x T; both L and both algorithms in each).
    result = mpirun(5, "run", write_config(tmp_path, TINY), "-o", str(tmp_path / "idle.jsonl"), "-q")
    assert result.returncode == 0, result.stderr
    assert "5 ranks for 4 chains" in result.stderr and "1 rank(s) will wait idle" in result.stderr
    assert len(outcome(tmp_path / "idle.jsonl")) == POINTS


@pytest.mark.parametrize("omp", ["1", None])
def test_threads_per_rank_follow_omp_num_threads_or_the_cpus(tmp_path, omp):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp:
        env["OMP_NUM_THREADS"] = omp
    out = tmp_path / "threads.jsonl"
    command = [MPIEXEC, "--oversubscribe", *AS_ROOT, "-n", "2", SWEEP, "run", write_config(tmp_path, TINY),
               "-o", str(out), "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    session = [r for r in lines(out) if r["type"] == "session"][0]
    expected = [int(omp) if omp else len(rank["cpus"]) for rank in session["ranks"]]
    assert [rank["threads"]["omp"] for rank in session["ranks"]] == expected
    assert all(p["threads"]["omp"] == expected[p["rank"]] for p in points(out))
