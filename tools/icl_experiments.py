#!/usr/bin/python3
"""In-context deep learning experiments (issue 6): the explicit ICGD transformer
of Wu et al. (ICML 2025) against direct projected gradient descent.

    /usr/bin/python3 tools/icl_experiments.py CONFIG.json --out RESULTS.json

Three parts, each optional in the config:
  error       ||w_ICL^l - w_GD^l|| for l = 1..L as the ReLU units (heads) grow,
              with the measured per-step gradient error, the a-priori bound
              eps and Corollary 1.1's bound eps ((1 + eta L_f)^l - 1) / L_f.
  regression  query predictions of the transformer and of the directly trained
              network on the paper's synthetic data (x from w1 N(-2, I) +
              w2 N(2, I), targets from random N-layer networks), R^2 over prompts.
  cost        layers, heads, token width and FLOPs of one ICGD block as N, K
              and n grow (the measured times come from bench_icl).

The file is written once, at the end; an existing file is never replaced.
Render it with `tools/lorafgc_report.py icl RESULTS.json --gbench bench_icl.json --out DIR`.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiment_driver  # noqa: E402
from experiment_driver import ConfigError  # noqa: E402

try:
    import lorafgc
except ImportError:  # run from a checkout: the module lives in the build tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "release", "python"))
    import lorafgc

CONFIG_KEYS = {"name", "seed", "activation", "d", "K", "n", "eta", "radius", "input_bound", "steps", "target_scale",
               "error", "regression", "cost"}
SECTION_KEYS = {
    "error": {"N", "relu_units", "prompts", "steps"},
    "regression": {"layers", "mixtures", "prompts", "relu_units", "context_sizes", "held_out"},
    "cost": {"layers", "widths", "examples", "relu_units"},
}


def load_config(path):
    cfg = experiment_driver.read_config(path, CONFIG_KEYS, sections=SECTION_KEYS)
    for m in cfg.get("regression", {}).get("mixtures", []):
        if len(m) != 2 or min(m) < 0 or abs(sum(m) - 1) > 1e-12:
            raise ConfigError(f"{path}: a mixture is [w1, w2] with w1, w2 >= 0 and w1 + w2 = 1, got {m}")
    defaults = {"seed": 1, "activation": "sigmoid", "d": 20, "K": 8, "n": 75, "eta": 5.0, "radius": 0.3,
                "input_bound": 8.0, "steps": 20, "target_scale": 1.0}
    for k, v in defaults.items():
        cfg.setdefault(k, v)
    return cfg


def parameter_count(N, K, d, d_out=1):
    return sum((K if j < N else d_out) * (d if j == 1 else K) for j in range(1, N + 1))


class Task:
    """One prompt: n examples and a query from the mixture, labels from a random
    N-layer target network of the same architecture (weights N(0, scale^2), the
    paper's N(0, I) at scale 1)."""

    def __init__(self, cfg, N, n, mixture, rng, held_out=0):
        d, K = cfg["d"], cfg["K"]
        self.target = rng.normal(0.0, cfg["target_scale"], parameter_count(N, K, d))
        # Resample the (rare) inputs beyond the bound the transformer was built
        # for: |x| > 8 has probability ~1e-9 per entry for N(+-2, 1).
        while True:
            first = rng.random(n + 1 + held_out) < mixture[0]
            X = rng.normal(0.0, 1.0, (n + 1 + held_out, d)) + np.where(first, -2.0, 2.0)[:, None]
            if np.abs(X).max() <= cfg["input_bound"]:
                break
        y = lorafgc.icl.predict(self.target, X, N=N, K=K, activation=cfg["activation"])[:, 0]
        self.X, self.y, self.x_query, self.y_query = X[:n], y[:n], X[n], y[n]
        self.X_test, self.y_test = X[n + 1:], y[n + 1:]
        b = cfg["radius"]
        self.w0 = np.clip(rng.normal(0.0, b / 3, self.target.size), -b, b)


def transformer(cfg, N, n, steps, relu_units):
    return lorafgc.icl.IcgdTransformer(N=N, K=cfg["K"], d=cfg["d"], d_out=1, n=n, eta=cfg["eta"], radius=cfg["radius"],
                                       input_bound=cfg["input_bound"], label_bound=1.0, steps=steps,
                                       activation=cfg["activation"], relu_units=relu_units)


def direct_path(cfg, N, task, steps, w0=None):
    w0 = task.w0 if w0 is None else w0
    return lorafgc.icl.projected_gd(w0, task.X, task.y, N=N, K=cfg["K"], eta=cfg["eta"], radius=cfg["radius"],
                                    steps=steps, activation=cfg["activation"])


def hessian_norm(cfg, N, task, w, rng, iterations=30, h=1e-5):
    """Largest |eigenvalue| of the Hessian of L_n at w, by power iteration on
    central-difference Hessian-vector products of the exact gradient."""
    grad = lambda v: lorafgc.icl.gradient(v, task.X, task.y, N=N, K=cfg["K"], activation=cfg["activation"])
    v = rng.normal(size=w.size)
    v /= np.linalg.norm(v)
    value = 0.0
    for _ in range(iterations):
        hv = (grad(w + h * v) - grad(w - h * v)) / (2 * h)
        value = np.linalg.norm(hv)
        if value == 0:
            break
        v = hv / value
    return value


def run_error(cfg, sec, rng, log):
    N, steps, prompts = sec.get("N", 3), sec.get("steps", 10), sec.get("prompts", 4)
    tasks = [Task(cfg, N, cfg["n"], (1.0, 0.0), rng) for _ in range(prompts)]
    paths = [direct_path(cfg, N, t, steps) for t in tasks]
    # L_f: the largest Hessian norm met along the GD paths, a local estimate of
    # the Lipschitz constant of grad L_n on W (a global one is not computable).
    lf = max(hessian_norm(cfg, N, t, w, rng) for t, p in zip(tasks, paths) for w in p[:: max(1, steps // 4)])
    rows = []
    for units in sec.get("relu_units", [8, 16, 32, 64, 128, 256]):
        t0 = time.time()
        tf = transformer(cfg, N, cfg["n"], steps, units)
        gaps, step_errors = [], []
        for task, path in zip(tasks, paths):
            w = tf.run(task.X, task.y, task.x_query, task.w0)["w"]
            gaps.append(np.linalg.norm(w - path, axis=1).tolist())
            # Per-step error of the transformer's own trajectory (Theorem 1's e^l / eta).
            step_errors.append([float(np.linalg.norm(w[l + 1] - direct_path(cfg, N, task, 1, w0=w[l])[1]) / cfg["eta"])
                                for l in range(steps)])
        rows.append({"relu_units": units, "units_r": tf.fit_r["units"], "units_r_prime": tf.fit_r_prime["units"],
                     "max_heads_per_layer": tf.max_heads_per_layer, "block_heads": tf.block_heads,
                     "fit_error_r": tf.fit_r["error_bound"], "fit_error_r_prime": tf.fit_r_prime["error_bound"],
                     "measured_fit_error_r": tf.fit_r["measured_error"],
                     "gradient_error_bound": tf.bounds["gradient_error"], "gap": gaps, "step_error": step_errors})
        log(f"error: {units} units, max gap {max(max(g) for g in gaps):.3g}, "
            f"bound eps {tf.bounds['gradient_error']:.3g} ({time.time() - t0:.1f} s)")
    return {"N": N, "steps": steps, "prompts": prompts, "lipschitz_estimate": lf,
            "step_norm": [float(np.linalg.norm(p[1] - p[0])) for p in paths], "rows": rows}


def r_squared(pred, y):
    pred, y = np.asarray(pred), np.asarray(y)
    return float(1.0 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2))


def run_regression(cfg, sec, rng, log):
    out = []
    steps, units = cfg["steps"], sec.get("relu_units", 64)
    for N in sec.get("layers", [3, 4, 6]):
        for n in sec.get("context_sizes", [cfg["n"]]):
            tf = transformer(cfg, N, n, steps, units)
            for mixture in sec.get("mixtures", [[1, 0], [0.9, 0.1], [0.7, 0.3], [0.5, 0.5]]):
                t0 = time.time()
                y, icl, gd, init, mean, seconds = [], [], [], [], [], []
                within = {"transformer": [0.0, 0.0], "direct": [0.0, 0.0], "prompt_mean": [0.0, 0.0]}
                for _ in range(sec.get("prompts", 100)):
                    task = Task(cfg, N, n, mixture, rng, held_out=sec.get("held_out", 50))
                    run = tf.run(task.X, task.y, task.x_query, task.w0)
                    w_gd = direct_path(cfg, N, task, steps)[-1]
                    predict = lambda w: float(lorafgc.icl.predict(w, task.x_query[None, :], N=N, K=cfg["K"],
                                                                  activation=cfg["activation"])[0, 0])
                    y.append(float(task.y_query))
                    icl.append(float(run["prediction"][0]))
                    gd.append(predict(w_gd))
                    init.append(predict(task.w0))
                    mean.append(float(task.y.mean()))
                    seconds.append(run["seconds"])
                    # Within-prompt fit: f(w^L, .) on held-out points of the same target,
                    # for the w^L the transformer read out and for direct GD's.
                    spread = np.sum((task.y_test - task.y_test.mean()) ** 2)
                    for name, w in (("transformer", run["w"][-1]), ("direct", w_gd)):
                        f = lorafgc.icl.predict(w, task.X_test, N=N, K=cfg["K"], activation=cfg["activation"])[:, 0]
                        within[name][0] += np.sum((f - task.y_test) ** 2)
                    within["prompt_mean"][0] += np.sum((task.y.mean() - task.y_test) ** 2)
                    for v in within.values():
                        v[1] += spread
                row = {"N": N, "n": n, "mixture": mixture, "prompts": len(y),
                       "r2_transformer": r_squared(icl, y), "r2_direct": r_squared(gd, y),
                       "r2_initial": r_squared(init, y), "r2_prompt_mean": r_squared(mean, y),
                       "max_abs_difference": float(np.max(np.abs(np.subtract(icl, gd)))),
                       "held_out": sec.get("held_out", 50),
                       "r2_within": {k: float(1.0 - v[0] / v[1]) for k, v in within.items()},
                       "median_run_s": float(np.median(seconds)),
                       "gradient_error_bound": tf.bounds["gradient_error"], "relu_units": units}
                out.append(row)
                log(f"regression: N={N} n={n} mixture={mixture}: R2 transformer {row['r2_transformer']:.4f}, "
                    f"direct {row['r2_direct']:.4f}, max |diff| {row['max_abs_difference']:.2g} "
                    f"({time.time() - t0:.1f} s)")
    return out


def run_cost(cfg, sec, log):
    rows = []
    units = sec.get("relu_units", 32)
    grid = [(N, cfg["K"], cfg["n"]) for N in sec.get("layers", [2, 3, 4, 6])]
    grid += [(3, K, cfg["n"]) for K in sec.get("widths", [4, 8, 16, 32])]
    grid += [(3, cfg["K"], n) for n in sec.get("examples", [16, 64, 256])]
    for N, K, n in dict.fromkeys(grid):
        tf = lorafgc.icl.IcgdTransformer(N=N, K=K, d=cfg["d"], d_out=1, n=n, eta=cfg["eta"], radius=cfg["radius"],
                                         input_bound=cfg["input_bound"], label_bound=1.0, steps=1,
                                         activation=cfg["activation"], relu_units=units)
        rows.append({"N": N, "K": K, "n": n, "layers": tf.block_layers, "heads": tf.block_heads,
                     "max_heads_per_layer": tf.max_heads_per_layer, "width": tf.token_dim,
                     "parameters": tf.parameter_count, "flops": tf.block_flops, "dense_flops": tf.block_dense_flops,
                     "direct_flops": 6.0 * n * tf.parameter_count})
    log(f"cost: {len(rows)} configurations")
    return rows


def run(cfg, log=print):
    rng = np.random.default_rng(cfg["seed"])
    out = {"config": cfg, "machine": lorafgc.system_info()}
    if "error" in cfg:
        out["error"] = run_error(cfg, cfg["error"], rng, log)
    if "regression" in cfg:
        out["regression"] = run_regression(cfg, cfg["regression"], rng, log)
    if "cost" in cfg:
        out["cost"] = run_cost(cfg, cfg["cost"], log)
    return out


def main(argv=None):
    return experiment_driver.main(argv, prog="icl_experiments", doc=__doc__, load_config=load_config, run=run,
                                  set_threads=lorafgc.set_num_threads)

if __name__ == "__main__":
    sys.exit(main())
