"""The looped linear transformer from Python (issue 5): the module's entry
points against an independent numpy implementation of the layer and of GD,
argument errors, and the experiment driver + report on a tiny config."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lorafgc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "tools", "looped_experiments.py")
REPORT = os.path.join(ROOT, "tools", "lorafgc_report.py")
SMOKE = os.path.join(ROOT, "reports", "configs", "looped_smoke.json")


def numpy_loop(Z, P, Q, loops):
    """The layer exactly as written in the issue: Z <- Z - (1/n) P Z M (Z^T Q Z)."""
    n = Z.shape[1] - 1
    M = np.diag([1.0] * n + [0.0])
    for _ in range(loops):
        Z = Z - (P @ Z @ M @ (Z.T @ Q @ Z)) / n
    return Z


def prompt(rng, d, n):
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    xq = rng.standard_normal(d)
    Z = np.zeros((d + 1, n + 1))
    Z[:d, :n], Z[d, :n], Z[:d, n] = X.T, X @ w, xq
    return Z, X, X @ w, xq


@pytest.mark.parametrize("form", ["linear", "quadratic"])
def test_forward_matches_numpy_layer(form):
    # Same products in another order: rounding-level agreement (1e-12 relative).
    rng = np.random.default_rng(0)
    Z, *_ = prompt(rng, 5, 12)
    P, Q = 0.2 * rng.standard_normal((6, 6)), 0.2 * rng.standard_normal((6, 6))
    ours = lorafgc.looped_forward(Z, P, Q, 3, form=form)
    ref = numpy_loop(Z, P, Q, 3)
    assert np.max(np.abs(ours - ref)) <= 1e-12 * (1 + np.max(np.abs(ref)))


def test_u_zero_is_preconditioned_gd():
    rng = np.random.default_rng(1)
    d, n, T = 4, 9, 6
    Z, X, y, xq = prompt(rng, d, n)
    A = 0.4 * np.eye(d) + 0.05 * rng.standard_normal((d, d))
    P = np.zeros((d + 1, d + 1)); P[d, d] = 1
    Q = np.zeros((d + 1, d + 1)); Q[:d, :d] = A.T
    w = np.zeros(d)
    for _ in range(T):
        w = w + A @ X.T @ (y - X @ w) / n
    out = lorafgc.looped_forward(Z, P, Q, T)
    assert abs(-out[d, n] - xq @ w) <= 1e-12 * (1 + abs(xq @ w))


def test_train_returns_model_curve_and_normalised_loss():
    r = lorafgc.train_looped(4, 8, 2, steps=40, batch=64, eval_every=10, eval_tasks=200, test_tasks=500, seed=3)
    assert r["A"].shape == (4, 4) and r["u"].shape == (4,)
    assert list(r["curve"]["step"]) == [0, 10, 20, 30, 40]
    assert set(r["curve"]) == {"step", "batch_loss", "eval_loss", "distance", "u_norm"}
    assert 0 < r["test_loss"] < 1.5 and r["optimizer"]["optimizer"] == "adam"
    again = lorafgc.train_looped(4, 8, 2, steps=40, batch=64, eval_every=10, eval_tasks=200, test_tasks=500, seed=3)
    assert np.array_equal(r["A"], again["A"])  # seeded and deterministic


def test_reference_matches_one_step_closed_form():
    # Sigma = I, T = 1: a* = n/(n+d+1), loss (d+1)/(n+d+1); 20000 tasks, ~1% error.
    d, n = 6, 12
    ref = lorafgc.looped_gd_reference(d, n, 1, tasks=20000, seed=4)
    assert ref["scale"] == pytest.approx(n / (n + d + 1), rel=0.04)
    assert ref["loss"][-1] == pytest.approx((d + 1) / (n + d + 1), rel=0.03)


def test_preconditioning_beats_plain_gd_on_anisotropic_data():
    sigma = lorafgc.anisotropic_covariance(6, 20.0, seed=2)
    assert np.linalg.cond(sigma) == pytest.approx(20.0, rel=1e-9)
    pre = lorafgc.looped_gd_reference(6, 12, 3, sigma=sigma, tasks=5000)
    plain = lorafgc.looped_gd_reference(6, 12, 3, sigma=sigma, preconditioner="identity", tasks=5000)
    assert pre["loss"][-1] < 0.8 * plain["loss"][-1]


@pytest.mark.parametrize("kwargs,name", [
    (dict(d=0, n=5, loops=1), "d"),
    (dict(d=3, n=0, loops=1), "n"),
    (dict(d=3, n=5, loops=0), "loops"),
    (dict(d=2, n=5, loops=1, sigma=[[1.0, 0.3], [0.0, 1.0]]), "sigma"),
    (dict(d=2, n=5, loops=1, sigma=[[1.0, 2.0], [2.0, 1.0]]), "sigma"),
    (dict(d=2, n=5, loops=1, sigma=np.eye(3)), "sigma"),
    (dict(d=2, n=5, loops=1, optimizer="newton"), "optimizer"),
    (dict(d=2, n=5, loops=1, learning_rate=-1.0), "learning_rate"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        lorafgc.train_looped(steps=2, **kwargs)


def test_driver_and_report(tmp_path):
    out = tmp_path / "results.json"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    run = subprocess.run([sys.executable, DRIVER, SMOKE, "--out", str(out)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert [e["kind"] for e in data["covariances"]] == ["isotropic", "anisotropic"]
    again = subprocess.run([sys.executable, DRIVER, SMOKE, "--out", str(out)], capture_output=True, text=True,
                           env=env, timeout=300)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert json.loads(out.read_text()) == data
    rep = subprocess.run([sys.executable, REPORT, "looped", str(out), "--out", str(tmp_path / "report")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert rep.returncode == 0, rep.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    for heading in ("Test loss vs loops", "Distance of A", "more loops than trained", "Loss vs training step"):
        assert heading in text
    for png in ("loss_vs_loops.png", "distance.png", "extrapolation.png", "training.png"):
        assert (tmp_path / "report" / png).stat().st_size > 1000


def test_driver_rejects_unknown_config_keys(tmp_path):
    cfg = json.loads(open(SMOKE).read())
    cfg["lernrate"] = 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    run = subprocess.run([sys.executable, DRIVER, str(path), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "lernrate" in run.stderr and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("change,drop,words", [
    ({}, "covariances", ["missing", "covariances"]),
    ({"train": {"stepz": 1}}, None, ["train", "stepz"]),
    ({"train": [1]}, None, ["train", "JSON object"]),
])
def test_driver_names_missing_and_nested_config_keys(tmp_path, change, drop, words):
    cfg = json.loads(open(SMOKE).read())
    cfg.update(change)
    cfg.pop(drop, None)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    run = subprocess.run([sys.executable, DRIVER, str(path), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and all(w in run.stderr for w in words) and not (tmp_path / "r.json").exists()


def test_report_reads_bench_looped_output(tmp_path):
    # A Google Benchmark file shaped like bench_looped's: the section must pair
    # the two forms per (d, n, T) and fit the slope in n over n >= 256.
    runs = []
    for n in (256, 1024, 4096):
        for form, t in (("quadratic", n * n * 1e-6), ("linear", n * 1e-3)):
            runs.append({"name": f"looped_forward_pass/{form}/d:10/n:{n}/T:4", "run_type": "iteration",
                         "real_time": t, "time_unit": "ms"})
    path = tmp_path / "bench_looped.json"
    path.write_text(json.dumps({"context": {"blas_config": "x", "omp_threads": 2}, "benchmarks": runs}))
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from report import looped
    text = "\n".join(looped.gbench_section([str(path)], str(tmp_path)))
    assert "| 10 | 4096 | 4 | 16.78 | 4.096 | 4.10 |" in text
    assert "| 10 | 4 | quadratic | 2.00 |" in text and "| 10 | 4 | linear | 1.00 |" in text


def test_other_entry_points_reject_bad_input():
    Z = np.zeros((4, 6))
    Z[0, 0] = np.nan
    with pytest.raises(ValueError, match="^Z:"):
        lorafgc.looped_forward(Z, np.eye(4), np.eye(4), 1)
    with pytest.raises(ValueError, match="^P:"):
        lorafgc.looped_forward(np.zeros((4, 6)), np.eye(3), np.eye(4), 1)
    with pytest.raises(ValueError, match="^form:"):
        lorafgc.looped_forward(np.zeros((4, 6)), np.eye(4), np.eye(4), 1, form="cubic")
    with pytest.raises(ValueError, match="^u:"):
        lorafgc.looped_test_losses(np.eye(3), np.zeros(2), n=5, loops=2)
    with pytest.raises(ValueError, match="^A:"):
        lorafgc.looped_test_losses(np.full((3, 3), np.inf), np.zeros(3), n=5, loops=2)
    with pytest.raises(ValueError, match="^tasks:"):
        lorafgc.looped_gd_reference(3, 5, 2, tasks=0)
    with pytest.raises(ValueError, match="^preconditioner:"):
        lorafgc.looped_gd_reference(3, 5, 2, preconditioner="newton")
