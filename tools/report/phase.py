"""The phase diagram: speedup of the best approximate variant over exact on the
(log L, norm) plane, at the sweep's target error."""
import math
from collections import defaultdict

from .fits import boundary_norm, fit_boundary
from .results import is_exact, is_oracle, is_selector, succeeded


def speedup_grid(points, target_error, d, mode, dtype, seconds=None):
    """{(L, norm): (speedup, best spec or reason)} for one (d, mode, dtype).

    speedup = baseline median / fastest approximate median among the variants that
    ran and met the target error; 0 when none did (refused, over the time limit, or
    too inaccurate). The baseline at each (L, norm) is the fastest exact variant
    that ran, the oracle aside; with one exact spec in the sweep (as in every
    committed config) it is that spec's time. No baseline, no cell.

    `seconds(point)` replaces the measured median: with the cost model's
    prediction the grid is the predicted one (which variants met the target
    error stays measured). A point it gives None for counts as not run."""
    seconds = seconds or (lambda p: p["median_s"])
    baseline, approx = {}, defaultdict(list)
    for p in points:
        if (p["d"], p["mode"], p["dtype"]) != (d, mode, dtype) or is_selector(p):
            continue
        key = (p["L"], p["norm"])
        if not is_exact(p):
            approx[key].append(p)
        elif p.get("status") == "ok" and not is_oracle(p) and seconds(p) is not None:
            baseline[key] = min(baseline.get(key, math.inf), seconds(p))
    grid = {}
    for key, t_baseline in baseline.items():
        good = [p for p in approx.get(key, []) if succeeded(p, target_error) and seconds(p) is not None]
        if good:
            best = min(good, key=seconds)
            grid[key] = (t_baseline / seconds(best), best["algorithm"])
        else:
            reasons = sorted({p.get("status", "?") if p.get("status") != "ok" else "error>target"
                              for p in approx.get(key, [])})
            grid[key] = (0.0, ",".join(reasons) or "not run")
    return grid


def boundary(grid, squared):
    """Per L the crossing norm, and the fit of norm^2 (or norm) = a + b ln L."""
    by_length = defaultdict(dict)
    for (L, norm), (s, _) in grid.items():
        by_length[L][norm] = s
    crossings = []
    for L in sorted(by_length):
        norms = sorted(by_length[L])
        found = boundary_norm(norms, [by_length[L][n] for n in norms])
        if found:
            crossings.append((L, found[0], found[1]))
    fit = fit_boundary([c[0] for c in crossings], [c[1] for c in crossings], squared=squared)
    return crossings, fit


def fit_text(fit, axis, d=None):
    """The fitted boundary. On a T axis it is also given as Gamma_T*^2 = T*/d, where
    Gamma_T = sqrt(T / (beta d)) is the entry bound that permits score bound T
    (|S_ij| <= beta d Gamma^2; the sweeps use beta = 1)."""
    if not fit:
        return "too few crossings to fit"
    tail = f"(R^2 = {fit['r2']:.3f}, {fit['n']} crossings)"
    if axis == "gamma":
        return f"Gamma*^2 = {fit['a']:.3g} + {fit['b']:.3g} ln L  {tail}"
    text = f"T* = {fit['a']:.3g} + {fit['b']:.3g} ln L"
    if d:
        text += f", i.e. Gamma_T*^2 = {fit['a'] / d:.3g} + {fit['b'] / d:.3g} ln L"
    return f"{text}  {tail}"


def curve(fit, lengths, squared):
    out = []
    for L in lengths:
        v = fit["a"] + fit["b"] * math.log(L)
        out.append(math.sqrt(v) if squared and v > 0 else (v if not squared else float("nan")))
    return out


def crossing_agreement(measured, predicted):
    """Per L with both: (L, measured, predicted, predicted / measured - 1), and the
    largest |relative difference| (None without a common L)."""
    pred = {L: n for L, n, _ in predicted}
    rows = [(L, n, pred[L], pred[L] / n - 1) for L, n, _ in measured if L in pred and n > 0]
    return rows, (max(abs(r[3]) for r in rows) if rows else None)
