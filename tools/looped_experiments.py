#!/usr/bin/python3
"""Looped linear transformer experiments (issue 5): train the looped model for
each loop count and covariance in a config, compute the Monte Carlo references
(best preconditioned GD, A = a Sigma^-1, and best plain GD, A = a I), evaluate
everything on one held-out task set, and write one JSON results file.

    /usr/bin/python3 tools/looped_experiments.py CONFIG.json --out RESULTS.json

The file is written once, at the end; an existing file is never replaced.
Render it with `tools/lorafgc_report.py looped RESULTS.json --out DIR`.
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

TRAIN_KEYS = {"steps", "batch", "optimizer", "gradient", "learning_rate", "cosine_decay", "init_scale",
              "eval_every", "eval_tasks"}
CONFIG_KEYS = {"name", "d", "n", "loops", "covariances", "train", "reference_tasks", "test_tasks",
               "extrapolate_to", "seed"}


def load_config(path):
    cfg = experiment_driver.read_config(path, CONFIG_KEYS, required={"d", "n", "loops", "covariances"},
                                        sections={"train": TRAIN_KEYS})
    if not cfg["loops"] or any(not isinstance(t, int) or t < 1 for t in cfg["loops"]):
        raise ConfigError(f"{path}: loops must be a non-empty list of integers >= 1")
    for c in cfg["covariances"]:
        if c.get("kind") not in ("isotropic", "anisotropic"):
            raise ConfigError(f"{path}: covariance kind must be 'isotropic' or 'anisotropic', got {c.get('kind')!r}")
    cfg.setdefault("train", {})
    cfg.setdefault("reference_tasks", 20000)
    cfg.setdefault("test_tasks", 40000)
    cfg.setdefault("extrapolate_to", 3 * max(cfg["loops"]))
    cfg.setdefault("seed", 1)
    return cfg


def covariance(spec, d):
    if spec["kind"] == "isotropic":
        return np.eye(d)
    return lorafgc.looped.anisotropic_covariance(d, float(spec.get("condition", 10.0)), int(spec.get("seed", 1)))


def run(cfg, log=print):
    d, n, seed = cfg["d"], cfg["n"], cfg["seed"]
    max_loops = max(max(cfg["loops"]), cfg["extrapolate_to"])
    # Seeds: the reference searches and the held-out test set use different
    # task streams, so the tuned step a is not scored on the tasks it was tuned on.
    reference_seed, test_seed = seed + 1000, seed + 2000
    out = {"config": cfg, "machine": lorafgc.system_info(), "covariances": []}
    for spec in cfg["covariances"]:
        sigma = covariance(spec, d)
        sigma_inv = np.linalg.inv(sigma)
        entry = {"kind": spec["kind"], "condition": float(np.linalg.cond(sigma)), "sigma": sigma.tolist(),
                 "references": {}, "models": []}

        def test_losses(A, u, loops):
            return lorafgc.looped.test_losses(A, u, n, loops, sigma=sigma, tasks=cfg["test_tasks"],
                                              seed=test_seed).tolist()

        for name, base, pre in (("preconditioned_gd", sigma_inv, "sigma_inverse"), ("plain_gd", np.eye(d), "identity")):
            rows = []
            for loops in range(1, max_loops + 1):
                ref = lorafgc.looped.gd_reference(d, n, loops, sigma=sigma, preconditioner=pre,
                                                  tasks=cfg["reference_tasks"], seed=reference_seed)
                rows.append({"loops": loops, "scale": ref["scale"],
                             "test_loss": test_losses(ref["scale"] * base, np.zeros(d), loops)[-1]})
            entry["references"][name] = rows
            log(f"{spec['kind']}: {name} references for 1..{max_loops} loops done")
        for loops in cfg["loops"]:
            start = time.time()
            r = lorafgc.looped.train(d, n, loops, sigma=sigma, seed=seed + loops, test_tasks=cfg["test_tasks"],
                                     **cfg["train"])
            model = {"loops": loops, "A": r["A"].tolist(), "u": r["u"].tolist(),
                     "curve": {k: v.tolist() for k, v in r["curve"].items()}, "optimizer": r["optimizer"],
                     "train_seconds": r["seconds"],
                     # Same held-out tasks as the references: one comparison, one sample.
                     "test_loss_by_loops": test_losses(r["A"], r["u"], max_loops)}
            model["test_loss"] = model["test_loss_by_loops"][loops]
            entry["models"].append(model)
            log(f"{spec['kind']}: trained T = {loops} in {time.time() - start:.1f} s, "
                f"test loss {model['test_loss']:.4f}, distance {r['curve']['distance'][-1]:.3f}")
        out["covariances"].append(entry)
    return out


def main(argv=None):
    return experiment_driver.main(argv, prog="looped_experiments", doc=__doc__, load_config=load_config, run=run,
                                  set_threads=lorafgc.set_num_threads)

if __name__ == "__main__":
    sys.exit(main())
