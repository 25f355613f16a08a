#!/usr/bin/python3
"""Looped transformers where the theorem speaks (issue 18): the n sweep, the
non-looped (per-layer) comparison, out-of-distribution covariances and the
gradient-flow rate, in one results JSON.

    /usr/bin/python3 tools/looped_theorem_experiments.py CONFIG.json --out RESULTS.json

Render it with `tools/lorafgc_report.py looped-theorem RESULTS.json --out DIR`.
The file is written once, at the end; an existing file is never replaced.
Training draws each task's X^T X / n directly (sampler "moments"), so a step
costs O(batch T d^2 + batch d^3) whatever n.
"""
import itertools
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiment_driver  # noqa: E402
from experiment_driver import ConfigError  # noqa: E402
from looped_experiments import TRAIN_KEYS, covariance  # noqa: E402

try:
    import lorafgc
except ImportError:  # run from a checkout: the module lives in the build tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "release", "python"))
    import lorafgc

CONFIG_KEYS = {"name", "comment", "d", "n", "loops", "covariances", "train", "variants", "ood", "flow",
               "reference_tasks", "test_tasks", "seed"}
VARIANT_KEYS = {"name", "n", "loops", "options"}
VARIANT_OPTIONS = {"weight_sharing", "symmetric", "train_u"}
OOD_KEYS = {"n", "loops", "train_conditions", "test_conditions", "seed"}
FLOW_KEYS = {"n", "loops", "steps", "batch", "learning_rate", "init_scale", "eval_every", "eval_tasks", "symmetric"}


def _positive_ints(cfg, path, key, where=None):
    values = (where or cfg)[key]
    if not isinstance(values, list) or not values or any(not isinstance(v, int) or v < 1 for v in values):
        raise ConfigError(f"{path}: {key} must be a non-empty list of integers >= 1, got {values!r}")


def load_config(path):
    cfg = experiment_driver.read_config(
        path, CONFIG_KEYS, required={"d", "n", "loops", "covariances"},
        sections={"train": TRAIN_KEYS, "ood": OOD_KEYS, "flow": FLOW_KEYS})
    for key in ("n", "loops"):
        _positive_ints(cfg, path, key)
    for c in cfg["covariances"]:
        if c.get("kind") not in ("isotropic", "anisotropic"):
            raise ConfigError(f"{path}: covariance kind must be 'isotropic' or 'anisotropic', got {c.get('kind')!r}")
    for section in ("ood", "flow"):
        if section not in cfg:
            continue
        experiment_driver.check_keys(cfg[section], cfg[section], path, required=("n", "loops"), section=section)
        _positive_ints(cfg, f"{path}: {section}", "loops", cfg[section])
        n = cfg[section]["n"]
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"{path}: {section}: n must be an integer >= 1, got {n!r}")
        for key in ("steps", "batch", "eval_every", "eval_tasks"):
            value = cfg[section].get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{path}: {section}: {key} must be an integer >= 1, got {value!r}")
        symmetric = cfg[section].get("symmetric", False)
        if not (isinstance(symmetric, bool) or (isinstance(symmetric, list) and symmetric
                                                and all(isinstance(v, bool) for v in symmetric))):
            raise ConfigError(f"{path}: {section}: symmetric must be true, false or a list of them, got {symmetric!r}")
        for key in ("learning_rate", "init_scale"):
            value = cfg[section].get(key, 0.1)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ConfigError(f"{path}: {section}: {key} must be a number > 0, got {value!r}")
    for v in cfg.setdefault("variants", []):
        experiment_driver.check_keys(v, VARIANT_KEYS, path, required=VARIANT_KEYS, section="variants")
        experiment_driver.check_keys(v["options"], VARIANT_OPTIONS, path, section="variants' options")
        for key, value in v["options"].items():
            if not isinstance(value, bool):  # refused now, not an hour into the run
                raise ConfigError(f"{path}: variant {v['name']!r}: option {key} must be true or false, got {value!r}")
        for key in ("n", "loops"):
            _positive_ints(cfg, f"{path}: variant {v['name']!r}", key, v)
    if "ood" in cfg:
        for key in ("train_conditions", "test_conditions"):
            values = cfg["ood"].get(key, [])
            if not values or any(not isinstance(v, (int, float)) or not v >= 1 for v in values):
                raise ConfigError(f"{path}: ood: {key} must be a non-empty list of numbers >= 1, got {values!r}")
    cfg.setdefault("train", {})
    cfg.setdefault("reference_tasks", 20000)
    cfg.setdefault("test_tasks", 40000)
    cfg.setdefault("seed", 1)
    return cfg


def theorem_band(d, n, loops):
    """The global-minimiser band of Gatmiry et al. (ICML 2024, Theorem 3.2, as the
    issue restates it): (1 - c) Sigma^-1 <= A <= (1 + c) Sigma^-1 with
    c = 8 delta d^(1/(2T)), delta = (8 T d / sqrt(n))^(1/(2T)); vacuous when c >= 1."""
    delta = (8 * loops * d / np.sqrt(n)) ** (1 / (2 * loops))
    return 8 * delta * d ** (1 / (2 * loops))


def band_entry_n(d, loops):
    """The smallest n with c < 1: sqrt(n) > 8^(2T+1) T d^2 from c's formula."""
    return float((8.0 ** (2 * loops + 1) * loops * d * d) ** 2)


def summarise(A, sigma):
    """A's distance to Sigma^-1 at scale 1 and to its nearest multiple, that
    multiple, and the extreme eigenvalues of Sigma^(1/2) A Sigma^(1/2)."""
    sigma_inv = np.linalg.inv(sigma)
    w, V = np.linalg.eigh(sigma)
    root = V @ np.diag(np.sqrt(w)) @ V.T
    whitened = root @ A @ root  # c I when A = c Sigma^-1
    eig = np.linalg.eigvalsh(0.5 * (whitened + whitened.T))
    scale = float(np.sum(A * sigma_inv) / np.sum(sigma_inv * sigma_inv))
    sym = 0.5 * (A + A.T)
    return {"distance_to_inverse": float(np.linalg.norm(A - sigma_inv) / np.linalg.norm(sigma_inv)),
            "symmetric_distance_to_inverse": float(np.linalg.norm(sym - sigma_inv) / np.linalg.norm(sigma_inv)),
            "distance_to_multiple": float(np.linalg.norm(A - scale * sigma_inv) / np.linalg.norm(A)),
            "antisymmetric_share": float(np.linalg.norm(whitened - whitened.T) / (2 * np.linalg.norm(whitened))),
            "scale": scale, "eig_min": float(eig[0]), "eig_max": float(eig[-1])}


class Run:
    """One config's shared pieces: the covariances, seeds, and reference cache."""

    def __init__(self, cfg, log):
        self.cfg, self.log, self.d = cfg, log, cfg["d"]
        self.reference_seed, self.test_seed = cfg["seed"] + 1000, cfg["seed"] + 2000
        self.references = {}

    def reference(self, sigma, key, n, loops, preconditioner):
        """Best a in A = a base on the reference tasks, scored on the test tasks."""
        k = (sigma.tobytes(), n, loops, preconditioner)  # two covariances of one kind differ
        if k not in self.references:
            ref = lorafgc.looped.gd_reference(self.d, n, loops, sigma=sigma, preconditioner=preconditioner,
                                              tasks=self.cfg["reference_tasks"], seed=self.reference_seed)
            base = np.linalg.inv(sigma) if preconditioner == "sigma_inverse" else np.eye(self.d)
            self.references[k] = {"scale": ref["scale"],
                                  "test_loss": self.test_loss(ref["scale"] * base, np.zeros(self.d), n, loops, sigma)}
        return self.references[k]

    def test_loss(self, A, u, n, loops, sigma):
        return float(lorafgc.looped.test_losses(A, u, n, loops, sigma=sigma, tasks=self.cfg["test_tasks"],
                                                seed=self.test_seed)[-1])

    def train(self, sigma, n, loops, **extra):
        options = dict(self.cfg["train"])
        options.update(extra)
        return lorafgc.looped.train(self.d, n, loops, sigma=sigma, seed=self.cfg["seed"] + loops, **options)

    def model_record(self, r, sigma, key, n, loops):
        A, u = r["layers"]["A"], r["layers"]["u"]
        shared = A.shape[0] == 1
        rec = {"n": n, "loops": loops, "train_seconds": r["seconds"],
               "test_loss": self.test_loss(A[0] if shared else A, u[0] if shared else u, n, loops, sigma),
               "u_norm": float(np.linalg.norm(u) / np.sqrt(len(u))),
               "layers": [summarise(a, sigma) for a in A],
               "preconditioned_gd": self.reference(sigma, key, n, loops, "sigma_inverse"),
               "plain_gd": self.reference(sigma, key, n, loops, "identity"),
               "band_c": theorem_band(self.d, n, loops)}
        rec.update(rec["layers"][0])
        return rec


def n_sweep(run, sigma, key):
    rows = []
    for n in run.cfg["n"]:
        for loops in run.cfg["loops"]:
            r = run.train(sigma, n, loops)
            rec = run.model_record(r, sigma, key, n, loops)
            rec["A"] = r["A"].tolist()
            rows.append(rec)
            ratio = rec["test_loss"] / rec["preconditioned_gd"]["test_loss"]
            run.log(f"{key}: n = {n}, T = {loops}: {r['seconds']:.1f} s, |A - Sigma^-1| "
                    f"{rec['distance_to_inverse']:.3f}, scale {rec['scale']:.3f}, loss/precond {ratio:.4f}")
    return rows


def variants(run, sigma, key):
    """The configured variants of the model (T separate layers, symmetric A, ...),
    each trained like the n sweep's looped model with its options changed."""
    out = {}
    for v in run.cfg["variants"]:
        rows = []
        for n in v["n"]:
            for loops in v["loops"]:
                r = run.train(sigma, n, loops, **v["options"])
                rec = run.model_record(r, sigma, key, n, loops)
                rows.append(rec)
                run.log(f"{key}: {v['name']}, n = {n}, T = {loops}: {r['seconds']:.1f} s, test loss / precond "
                        f"{rec['test_loss'] / rec['preconditioned_gd']['test_loss']:.4f}, scales "
                        f"{[round(layer['scale'], 3) for layer in rec['layers']]}")
        out[v["name"]] = {"options": v["options"], "rows": rows}
    return out


def ood(run):
    """Models trained on one condition number, tested on every other (each
    anisotropic covariance shares its eigenbasis seed), against the test
    covariance's own best preconditioned GD."""
    spec, d = run.cfg["ood"], run.d
    n, seed = spec["n"], spec.get("seed", 1)
    sigmas = {c: lorafgc.looped.anisotropic_covariance(d, float(c), seed)
              for c in sorted(set(spec["train_conditions"]) | set(spec["test_conditions"]))}
    rows = []
    for loops in spec["loops"]:
        for shared in (True, False):
            for train_c in spec["train_conditions"]:
                r = run.train(sigmas[train_c], n, loops, weight_sharing=shared)
                A, u = r["layers"]["A"], r["layers"]["u"]
                for test_c in spec["test_conditions"]:
                    best = run.reference(sigmas[test_c], f"ood-cond{test_c}", n, loops, "sigma_inverse")
                    loss = run.test_loss(A[0] if shared else A, u[0] if shared else u, n, loops, sigmas[test_c])
                    rows.append({"loops": loops, "looped": shared, "train_condition": train_c,
                                 "test_condition": test_c, "test_loss": loss,
                                 "preconditioned_gd": best["test_loss"]})
                run.log(f"ood: T = {loops} {'looped' if shared else 'layers'} trained on cond {train_c} done")
    return rows


def flow(run):
    """Sigma = I, u fixed at 0, constant small-step SGD on large batches (a
    discretised gradient flow) from a small symmetric A_0; the eval loss's excess
    over the best preconditioned GD, and the slope of its log-log tail."""
    spec, d = run.cfg["flow"], run.d
    sigma = np.eye(d)
    rows = []
    symmetric = spec.get("symmetric", False)
    for sym, loops in itertools.product(symmetric if isinstance(symmetric, list) else [symmetric], spec["loops"]):
        r = lorafgc.looped.train(d, spec["n"], loops, sigma=sigma, steps=spec["steps"], batch=spec["batch"],
                                 optimizer="sgd", learning_rate=spec["learning_rate"], cosine_decay=False,
                                 init_scale=spec.get("init_scale", 0.1), eval_every=spec.get("eval_every", 10),
                                 eval_tasks=spec.get("eval_tasks", 20000),
                                 train_u=False, symmetric=sym, seed=run.cfg["seed"] + loops)
        best = run.reference(sigma, "flow", spec["n"], loops, "sigma_inverse")
        rows.append({"loops": loops, "n": spec["n"], "learning_rate": spec["learning_rate"],
                     "symmetric": sym,
                     "step": r["curve"]["step"].tolist(), "eval_loss": r["curve"]["eval_loss"].tolist(),
                     "best_loss": best["test_loss"], "seconds": r["seconds"],
                     "final": summarise(r["layers"]["A"][0], sigma)})
        run.log(f"flow: T = {loops}{' (symmetric A)' if sym else ''}: {r['seconds']:.1f} s, "
                f"final eval loss {r['curve']['eval_loss'][-1]:.4f}, "
                f"best preconditioned GD {best['test_loss']:.4f}")
    return rows


def run(cfg, log=print):
    experiment = Run(cfg, log)
    out = {"config": cfg, "machine": lorafgc.system_info(), "covariances": [],
           "theorem": {"source": "Gatmiry et al., ICML 2024, Theorem 3.2, as restated in issue 18 (the paper's "
                                 "text was not available to the suite)",
                       "band": "(1 - c) Sigma^-1 <= A <= (1 + c) Sigma^-1, c = 8 delta d^(1/(2T)), "
                               "delta = (8 T d / sqrt(n))^(1/(2T))",
                       "band_entry_n": {str(t): band_entry_n(cfg["d"], t) for t in cfg["loops"]}}}
    for spec in cfg["covariances"]:
        sigma = covariance(spec, cfg["d"])
        key = spec["kind"]
        start = time.time()
        entry = {"kind": key, "condition": float(np.linalg.cond(sigma)),
                 "n_sweep": n_sweep(experiment, sigma, key)}
        entry["variants"] = variants(experiment, sigma, key)
        entry["seconds"] = time.time() - start
        out["covariances"].append(entry)
    if "ood" in cfg:
        start = time.time()
        out["ood"] = {"rows": ood(experiment), "seconds": time.time() - start}
    if "flow" in cfg:
        start = time.time()
        out["flow"] = {"rows": flow(experiment), "seconds": time.time() - start}
    return out


def main(argv=None):
    return experiment_driver.main(argv, prog="looped_theorem_experiments", doc=__doc__, load_config=load_config,
                                  run=run, set_threads=lorafgc.set_num_threads)


if __name__ == "__main__":
    sys.exit(main())
