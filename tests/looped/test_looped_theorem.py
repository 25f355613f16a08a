"""Issue 18 from Python: per-layer (non-looped) models, stacks in test_losses,
the moment sampler against the prompt sampler, and the theorem experiment's
driver and report on a tiny config."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lorafgc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "tools", "looped_theorem_experiments.py")
REPORT = os.path.join(ROOT, "tools", "lorafgc_report.py")
SMOKE = os.path.join(ROOT, "reports", "configs", "looped-theorem_smoke.json")
sys.path.insert(0, os.path.join(ROOT, "tools"))


def test_layers_are_returned_and_scored_as_a_stack():
    r = lorafgc.looped.train(d=3, n=9, loops=2, steps=20, batch=32, eval_every=10, eval_tasks=100, test_tasks=500,
                             weight_sharing=False)
    A, u = r["layers"]["A"], r["layers"]["u"]
    assert A.shape == (2, 3, 3) and u.shape == (2, 3)
    assert np.array_equal(A[0], r["A"])
    stack = lorafgc.looped.test_losses(A, u, n=9, loops=2, tasks=500, seed=5)
    # A stack of one repeated layer is the looped model with that layer.
    same = lorafgc.looped.test_losses(np.stack([A[0], A[0]]), np.stack([u[0], u[0]]), n=9, loops=2, tasks=500, seed=5)
    looped = lorafgc.looped.test_losses(A[0], u[0], n=9, loops=2, tasks=500, seed=5)
    assert np.allclose(same, looped, rtol=1e-13)
    assert not np.allclose(stack, looped)


def test_stack_arguments_are_checked_by_name():
    A = np.stack([np.eye(3)] * 2)
    with pytest.raises(ValueError, match="^layers:"):
        lorafgc.looped.test_losses(A, np.zeros((2, 3)), n=5, loops=3, tasks=10)
    with pytest.raises(ValueError, match="^u:"):
        lorafgc.looped.test_losses(A, np.zeros(3), n=5, loops=2, tasks=10)
    with pytest.raises(ValueError, match="^A:"):
        lorafgc.looped.test_losses(np.zeros((1, 1, 3, 3)), np.zeros(3), n=5, loops=2, tasks=10)
    with pytest.raises(ValueError, match="^A:"):
        lorafgc.looped.test_losses(np.zeros((0, 3, 3)), np.zeros((0, 3)), n=5, loops=2, tasks=10)
    with pytest.raises(ValueError, match="^A:"):
        lorafgc.looped.test_losses("abc", np.zeros(3), n=5, loops=2, tasks=10)
    with pytest.raises(ValueError, match="^sampler:"):
        lorafgc.looped.train(d=2, n=5, loops=1, steps=2, sampler="wishart")


def test_train_u_false_keeps_u_zero():
    r = lorafgc.looped.train(d=3, n=9, loops=2, steps=20, batch=32, eval_every=10, eval_tasks=100, test_tasks=200,
                             train_u=False)
    assert not r["u"].any() and r["optimizer"]["train_u"] is False


def test_both_samplers_train_to_the_same_model():
    # Same distribution, different draws: after 400 steps both one-loop models sit
    # near the optimum A = n / (n + d + 1) I. The closed-form optimum (d + 1) / (n + d + 1)
    # is computed from the Wishart moments, not from either sampler; 20000 test tasks give
    # the test loss a relative standard error of about 1%, so 3% is 3 standard errors.
    kw = dict(d=4, n=12, loops=1, steps=400, batch=256, learning_rate=0.02, eval_every=100, eval_tasks=200,
              test_tasks=20000)
    a = lorafgc.looped.train(sampler="moments", **kw)
    b = lorafgc.looped.train(sampler="prompts", **kw)
    optimum = (4 + 1) / (12 + 4 + 1)
    for r in (a, b):
        assert abs(r["test_loss"] / optimum - 1) < 0.03


def test_band_formula():
    import looped_theorem_experiments as lt
    d, n, T = 10, 640, 2
    delta = (8 * T * d / np.sqrt(n)) ** (1 / (2 * T))
    assert lt.theorem_band(d, n, T) == pytest.approx(8 * delta * d ** (1 / (2 * T)))
    entry = lt.band_entry_n(d, T)
    assert lt.theorem_band(d, entry * 1.01, T) < 1 < lt.theorem_band(d, entry * 0.99, T)


def test_driver_and_report(tmp_path):
    out = tmp_path / "results.json"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    run = subprocess.run([sys.executable, DRIVER, SMOKE, "--out", str(out)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert len(data["covariances"][0]["n_sweep"]) == 4
    assert set(data["covariances"][0]["variants"]) == {"T layers", "symmetric A"}
    assert {r["test_condition"] for r in data["ood"]["rows"]} == {1, 10}
    assert sorted(r["symmetric"] for r in data["flow"]["rows"]) == [False, True]
    assert all(0 <= r["final"]["antisymmetric_share"] < 1 for r in data["flow"]["rows"])
    again = subprocess.run([sys.executable, DRIVER, SMOKE, "--out", str(out)], capture_output=True, text=True,
                           env=env, timeout=300)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    rep = subprocess.run([sys.executable, REPORT, "looped-theorem", str(out), "--out", str(tmp_path / "report")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert rep.returncode == 0, rep.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    for heading in ("The n sweep", "Variants against", "Out of distribution", "Gradient-flow rate"):
        assert heading in text
    for png in ("n_sweep.png", "flow.png"):
        assert (tmp_path / "report" / png).stat().st_size > 1000


@pytest.mark.parametrize("change, words", [
    ({"ood": {"n": [12], "loops": [2], "train_conditions": [1], "test_conditions": [1]}}, "ood: n"),
    ({"ood": {"n": 12, "loops": [2], "train_conditions": [0.5], "test_conditions": [1]}}, "train_conditions"),
    ({"variants": [{"name": "x", "n": [12], "loops": [], "options": {}}]}, "loops must be"),
    ({"variants": [{"name": "x", "n": [12], "loops": [2], "options": {"lr": 1}}]}, "lr"),
    ({"flow": {"loops": [2]}}, "flow"),
    ({"n": [0, 4]}, "n must be"),
    ({"variants": [{"name": "x", "n": [12], "loops": [2], "options": {"symmetric": "yes"}}]}, "true or false"),
    ({"flow": {"n": 12, "loops": [2], "steps": "many"}}, "flow: steps"),
    ({"flow": {"n": 12, "loops": [2], "symmetric": [1]}}, "symmetric must be"),
    ({"flow": {"n": 12, "loops": [2], "symmetric": []}}, "symmetric must be"),
])
def test_driver_refuses_bad_sections_by_name(tmp_path, change, words):
    cfg = json.loads(open(SMOKE).read())
    cfg.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    run = subprocess.run([sys.executable, DRIVER, str(path), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and words in run.stderr and not (tmp_path / "r.json").exists(), run.stderr


def test_symmetric_keeps_a_symmetric():
    r = lorafgc.looped.train(d=4, n=9, loops=2, steps=30, batch=32, eval_every=10, eval_tasks=100, test_tasks=200,
                             symmetric=True)
    assert np.array_equal(r["A"], r["A"].T) and r["optimizer"]["symmetric"] is True


def _power_law_flow(loops, slope, symmetric):
    step = np.geomspace(1, 1e4, 60)
    return {"loops": loops, "n": 640, "learning_rate": 0.05, "symmetric": symmetric, "step": step.tolist(),
            "eval_loss": (1e-6 + step ** slope).tolist(), "best_loss": 1e-6, "seconds": 1.0}


def test_flow_caveat_measures_general_against_symmetric():
    from report.looped_theorem import flow_caveat
    general, symmetric = _power_law_flow(3, -1.8, False), _power_law_flow(3, -1.5, True)
    text = flow_caveat([general, symmetric])
    assert "T = 3: -1.80 general, -1.50 symmetric" in text
    assert "Add" in flow_caveat([general]) and flow_caveat([symmetric]) == ""
    assert flow_caveat([_power_law_flow(2, -2.0, False)]) == ""  # T = 2's limits agree
