"""benchmarks/lora/auto_regret.py's results file: written after every point, a
stopped run resumed without measuring its points again, and a file of another
run refused, never overwritten."""
import importlib.util
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("auto_regret", os.path.join(ROOT, "benchmarks", "lora", "auto_regret.py"))
auto_regret = importlib.util.module_from_spec(spec)
spec.loader.exec_module(auto_regret)

GRID = ["--family", "gaussian", "--modes", "partial", "--d", "2", "--L", "64", "128", "--T", "1", "--rounds", "1"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("regret") / "run.json"
    assert auto_regret.main(GRID + ["--json", str(path)]) == 0
    return json.loads(path.read_text())


def test_a_finished_run_holds_every_point_and_says_so(finished):
    assert finished["complete"] is True
    assert [(p["L"], p["T"]) for p in finished["points"]] == [(64, 1.0), (128, 1.0)]
    for p in finished["points"]:
        assert p["auto_s"] > 0 and p["regret"] > 0 and isinstance(p["passed"], bool)


def test_a_stopped_run_resumes_keeping_its_points(tmp_path, finished):
    stopped = dict(finished, complete=False, points=[dict(finished["points"][0], auto_s=123.0)])
    path = tmp_path / "run.json"
    path.write_text(json.dumps(stopped))
    assert auto_regret.main(GRID + ["--json", str(path)]) == 0
    resumed = json.loads(path.read_text())
    assert resumed["complete"] is True
    # The kept point is the file's (not measured again); the missing one is measured.
    assert resumed["points"][0]["auto_s"] == 123.0
    assert [(p["L"], p["T"]) for p in resumed["points"]] == [(64, 1.0), (128, 1.0)]
    assert resumed["points"][1]["auto_s"] > 0


@pytest.mark.parametrize("change", [
    lambda r: r["args"].update(rounds=3),
    lambda r: r["args"].update(L=[64]),
    lambda r: r["system"].update(cpu_id="6/207"),
    lambda r: r["system"].update(blas_threads=r["system"]["blas_threads"] + 1),
])
def test_a_file_of_another_run_is_refused_and_kept(tmp_path, finished, change):
    other = json.loads(json.dumps(finished))
    change(other)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(other))
    before = path.read_bytes()
    with pytest.raises(ValueError, match="--json"):
        auto_regret.main(GRID + ["--json", str(path)])
    assert path.read_bytes() == before


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"args": {}}'])
def test_a_file_that_is_not_a_results_file_is_refused_and_kept(tmp_path, text):
    path = tmp_path / "run.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="--json: .* is not this script's results file"):
        auto_regret.main(GRID + ["--json", str(path)])
    assert path.read_text() == text


def test_a_bounded_call_is_stopped_past_its_limit_and_kept_within_it():
    import lorafgc
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from bounded_call import finishes_within
    inst = lorafgc.lora.generate(L=4096, d=8, r=4, gamma=1.0, mode="full", dtype="float64", seed=1, score_bound=2.0)
    # exact at L = 4096, d = 8 in float64 takes milliseconds, not 100 us; nor a minute.
    assert not finishes_within(inst, "exact", 1e-4)
    assert finishes_within(inst, "exact", 60)
    # A refused call returns at once; the caller's own call reports the refusal.
    assert finishes_within(inst, "poly-cheb:degree=40", 60)
