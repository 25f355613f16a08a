"""In-context deep learning from Python (issue 6): the N-layer network and its
gradient against torch autograd, projected GD against a numpy loop, the ICGD
transformer's first step and layer count, input range errors, and the
experiment driver + report on a tiny config."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import lorafgc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = os.path.join(ROOT, "tools", "icl_experiments.py")
REPORT = os.path.join(ROOT, "tools", "lorafgc_report.py")
SMOKE = os.path.join(ROOT, "reports", "configs", "icl_smoke.json")


def torch_loss(w, X, Y, N, K, act):
    """Definition 1 written directly in torch, parameters stacked as in (3.2)."""
    r = torch.sigmoid if act == "sigmoid" else torch.nn.functional.softplus
    p, at = torch.as_tensor(X), 0
    for j in range(1, N + 1):
        fan_in, units = p.shape[1], (K if j < N else Y.shape[1])
        V = w[at:at + units * fan_in].reshape(units, fan_in)
        at += units * fan_in
        p = r(p @ V.T)
    return ((p - torch.as_tensor(Y)) ** 2).sum() / (2 * X.shape[0])


@pytest.mark.parametrize("act", ["softplus", "sigmoid"])
@pytest.mark.parametrize("N", [1, 3, 4])
def test_network_and_gradient_match_torch(act, N):
    rng = np.random.default_rng(N)
    K, d, d_out, n = 3, 5, 2, 7
    D = sum((K if j < N else d_out) * (d if j == 1 else K) for j in range(1, N + 1))
    w, X, Y = rng.normal(0, 0.7, D), rng.normal(size=(n, d)), rng.normal(size=(n, d_out))
    wt = torch.tensor(w, requires_grad=True)
    loss = torch_loss(wt, X, Y, N, K, act)
    loss.backward()
    # Same arithmetic in another order: agreement to rounding (1e-12 relative).
    assert lorafgc.icl_loss(w, X, Y, N=N, K=K, d_out=d_out, activation=act) == pytest.approx(loss.item(), rel=1e-12)
    g = lorafgc.icl_gradient(w, X, Y, N=N, K=K, d_out=d_out, activation=act)
    assert np.abs(g - wt.grad.numpy()).max() <= 1e-12 * np.abs(g).max()


def test_projected_gd_matches_numpy_loop():
    rng = np.random.default_rng(3)
    N, K, d, n = 3, 4, 5, 9
    D = d * K + K * K + K
    # Labels sigmoid cannot reach: a steady pull that drives weights into the box wall.
    X, Y, w = rng.normal(size=(n, d)), rng.uniform(3, 4, (n, 1)), rng.uniform(-0.09, 0.09, D)
    path = lorafgc.icl_projected_gd(w, X, Y, N=N, K=K, eta=30.0, radius=0.1, steps=4, activation="sigmoid")
    assert path.shape == (5, D)
    for l in range(4):
        step = w - 30.0 * lorafgc.icl_gradient(w, X, Y, N=N, K=K, activation="sigmoid")
        w = np.clip(step, -0.1, 0.1)
        # One rounding apart at most (the library may fuse w - eta g into an FMA).
        assert np.abs(path[l + 1] - w).max() <= 1e-15
        w = path[l + 1]
    assert np.abs(path).max() == 0.1  # the box was reached


def small_transformer(**kw):
    args = dict(N=3, K=3, d=4, d_out=1, n=8, eta=1.0, radius=0.5, input_bound=2.0, label_bound=1.0, steps=2,
                activation="softplus", fit_tolerance=1e-8)
    args.update(kw)
    return lorafgc.IcgdTransformer(**args), args


def prompt(args, seed=0):
    rng = np.random.default_rng(seed)
    d, n, b = args["d"], args["n"], args["input_bound"]
    D = d * args["K"] + args["K"] ** 2 + args["K"]
    return (rng.uniform(-b, b, (n, d)), rng.uniform(-1, 1, n), rng.uniform(-b, b, d),
            rng.uniform(-args["radius"], args["radius"], D))


def test_transformer_first_step_and_layers():
    t, args = small_transformer()
    assert t.gd_layers == (2 * 3 + 4) * 2 and t.total_layers == t.gd_layers + 3 and t.block_layers == 10
    assert [b["kind"] for b in t.block] == ["relu_attention"] * 4 + ["mlp"] + ["elementwise_multiplication"] * 3 + \
        ["relu_attention", "mlp"]
    X, y, xq, w0 = prompt(args)
    run = t.run(X, y, xq, w0)
    gd = lorafgc.icl_projected_gd(w0, X, y, N=3, K=3, eta=1.0, radius=0.5, steps=2)
    # The a-priori budget: each step errs by at most eta * eps.
    eps = t.bounds["gradient_error"]
    assert np.linalg.norm(run["w"][1] - gd[1]) <= args["eta"] * eps
    assert np.linalg.norm(run["w"][1] - gd[1]) <= 1e-7 * np.linalg.norm(gd[1] - gd[0])
    f = lorafgc.icl_predict(run["w"][-1], xq[None, :], N=3, K=3)[0, 0]
    assert abs(run["prediction"][0] - f) <= t.bounds["forward_error"][3]
    assert run["flops"] > 0 and run["seconds"] >= 0
    assert t.fit_r["measured_error"] <= t.fit_r["error_bound"] <= 1e-8


@pytest.mark.parametrize("which,name", [("X", "X"), ("y", "Y"), ("xq", "x_query"), ("w0", "w0")])
def test_inputs_outside_fitted_ranges_raise(which, name):
    t, args = small_transformer(fit_tolerance=1e-3)
    X, y, xq, w0 = prompt(args)
    if which == "X":
        X[3, 1] = 1.5 * args["input_bound"]
    elif which == "y":
        y[0] = -2.0
    elif which == "xq":
        xq[2] = 3.0
    else:
        w0[0] = 0.6
    with pytest.raises(ValueError, match=f"^{name}:"):
        t.run(X, y, xq, w0)


def test_bad_arguments_raise_by_name():
    for kw, name in ((dict(N=0), "N"), (dict(activation="relu"), "activation"), (dict(eta=-1.0), "eta"),
                     (dict(relu_units=20), "fit_tolerance"), (dict(fit_tolerance=None), "fit_tolerance"),
                     (dict(fit_tolerance=None, relu_units=2), "relu_units"), (dict(n=0), "n")):
        with pytest.raises(ValueError, match=f"^{name}:"):
            small_transformer(**kw)
    t, args = small_transformer(fit_tolerance=1e-3)
    X, y, xq, w0 = prompt(args)
    with pytest.raises(ValueError, match="^X:"):
        t.run(X[:, :3], y, xq, w0)
    with pytest.raises(ValueError, match="^X:"):
        t.run(X[:5], y[:5], xq, w0)
    with pytest.raises(ValueError, match="^w:"):
        lorafgc.icl_gradient(np.zeros(3), X, y, N=3, K=3)
    with pytest.raises(ValueError, match="^radius:"):
        lorafgc.icl_projected_gd(w0, X, y, N=3, K=3, radius=0.0)


def test_driver_and_report(tmp_path):
    out = tmp_path / "results.json"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    run = subprocess.run([sys.executable, DRIVER, SMOKE, "--out", str(out)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert {"error", "regression", "cost"} <= set(data)
    gaps = [max(max(g) for g in r["gap"]) for r in data["error"]["rows"]]
    assert gaps[-1] < gaps[0]  # more heads, closer to GD
    for r in data["regression"]:
        assert r["max_abs_difference"] < 0.05
    again = subprocess.run([sys.executable, DRIVER, SMOKE, "--out", str(out)], capture_output=True, text=True,
                           env=env, timeout=300)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert json.loads(out.read_text()) == data
    rep = subprocess.run([sys.executable, REPORT, "icl", str(out), "--out", str(tmp_path / "report")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert rep.returncode == 0, rep.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    for heading in ("Corollary 1.1", "Query prediction", "Size of one ICGD block"):
        assert heading in text
    for png in ("gap_vs_step.png", "gap_vs_heads.png", "r2_vs_mixture.png"):
        assert (tmp_path / "report" / png).stat().st_size > 1000


@pytest.mark.parametrize("change,word", [({"lernrate": 1}, "lernrate"),
                                         ({"regression": {"mixtures": [[0.5, 0.6]]}}, "mixture"),
                                         ({"error": {"Nn": 3}}, "Nn"),
                                         ({"cost": [16]}, "cost must be a JSON object")])
def test_driver_rejects_bad_configs(tmp_path, change, word):
    cfg = json.loads(open(SMOKE).read())
    cfg.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    run = subprocess.run([sys.executable, DRIVER, str(path), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and word in run.stderr and not (tmp_path / "r.json").exists()


def test_report_reads_bench_icl_output(tmp_path):
    runs = []
    for kind, t in (("icgd_step", 9.0), ("direct_gd_step", 0.03)):
        runs.append({"name": f"{kind}/N:3/K:8/n:64", "run_type": "iteration", "real_time": t, "time_unit": "ms",
                     "heads": 1105, "width": 307})
    path = tmp_path / "bench_icl.json"
    path.write_text(json.dumps({"context": {"blas_config": "x", "omp_threads": 2}, "benchmarks": runs}))
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from report import icl
    text = "\n".join(icl.gbench_section([str(path)], str(tmp_path)))
    assert "| 3 | 8 | 64 | 9 | 0.03 | 300 |" in text
