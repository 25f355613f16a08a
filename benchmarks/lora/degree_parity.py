#!/usr/bin/env python3
"""poly-cheb's gradient error against its certificate, degree by degree.

docs/auto.md, "Why Chebyshev's gradient error exceeds its certificate".

For each instance: the degree eps = 1e-3 picks (marked *), two below and two above,
each run as `poly-cheb:degree=g` in float64 (so rounding plays no part); printed is the
gradients' max_rel against exact, the certified entry error, and their ratio. At even g
also three predictions of that ratio: (g + 1) / T_poly * s_beta, from the slope of the
error's leading term at the centre, (g + 1) / T_poly times the certified error, and
poly's own gradient_error_factor (docs/auto.md) twice: with the slope at the centre
(what auto asks for) and with the error's least-squares slope over the instance's
scores (score_rms, keys centred by their mean), each times s_beta over the certified
error. A slope h acts as a relative change h of beta, which moves the gradients by
s_beta = max_rel(G(beta (1 + h)), G(beta)) / h (exact, h = 1e-6) per unit.

    PYTHONPATH=build/release/python /usr/bin/python3 benchmarks/lora/degree_parity.py
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))

import lorafgc  # noqa: E402
from auto_regret import max_rel  # noqa: E402
from command_line import guarded  # noqa: E402

INSTANCES = [  # family, mode, L, T (the generator's Cauchy-Schwarz bound), d
    ("gaussian", "partial", 8192, 0.5, 4),
    ("gaussian", "full", 8192, 2.0, 4),
    ("gaussian", "partial", 2048, 1.0, 4),
    ("gaussian", "full", 16384, 0.25, 4),
    ("gaussian", "partial", 8192, 2.0, 8),
    ("adversarial", "partial", 8192, 0.25, 4),
    ("llm", "partial", 8192, 1.0, 4),
]


def score_rms(inst):
    """The rms of beta Q_i . (K_j - mean K) over all pairs: beta sqrt(tr(Q^T Q Kc^T Kc)) / L."""
    r = next(iter(inst["adapters"].values()))[0].shape[1]
    W = {m: inst["W" + m] + (inst["alpha"] / r) * (inst["adapters"][m][0] @ inst["adapters"][m][1])
         if m in inst["adapters"] else inst["W" + m] for m in "qk"}
    Q, K = inst["X"] @ W["q"], inst["X"] @ W["k"]
    K = K - K.mean(axis=0)
    return abs(inst["beta"]) * np.sqrt(np.sum((Q.T @ Q) * (K.T @ K))) / Q.shape[0]


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    for family, mode, L, T, d in INSTANCES:
        inst = lorafgc.lora.generate(L=L, d=d, r=4, gamma=1.0, mode=mode, dtype="float64", seed=1, score_bound=T,
                                     family=family)
        truth = lorafgc.lora.gradients(**inst, algorithm="exact")
        picked = lorafgc.lora.gradients(**inst, algorithm="poly-cheb:eps=1e-3")["info"]
        h = 1e-6
        s_beta = max_rel(lorafgc.lora.gradients(**dict(inst, beta=inst["beta"] * (1 + h)), algorithm="exact"), truth) / h
        rms = score_rms(inst)
        row = [f"{family} {mode} L={L} T={T} d={d} T_poly={picked['T']:.3g} s_beta={s_beta:.3g} rms={rms:.3g}"]
        for g in range(max(1, int(picked["degree"]) - 2), int(picked["degree"]) + 3):
            spec = f"poly-cheb:degree={g},beta_sensitivity={s_beta!r}"
            run = lorafgc.lora.gradients(**inst, algorithm=spec)
            spread = lorafgc.lora.gradients(**inst, algorithm=f"{spec},score_rms={rms!r}")["info"]
            error, certified = max_rel(run, truth), run["info"]["poly_error"]
            star = "*" if g == picked["degree"] else ""
            predicted = (f" predicted {(g + 1) / picked['T'] * s_beta:.2f} (leading term),"
                         f" {run['info']['gradient_error_factor']:.2f} (factor),"
                         f" {spread['gradient_error_factor']:.2f} (factor over the spread)") if g % 2 == 0 else ""
            row.append(f"g={g}{star}: max_rel {error:.2e} certified {certified:.2e} ratio {error / certified:.2f}"
                       f"{predicted}")
        print(" | ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(guarded("degree_parity.py", main))
