"""Fits the report draws: log-log slopes and the phase boundary Gamma*^2 = a + b ln L."""
import math

import numpy as np


def loglog_slope(lengths, seconds):
    """Least-squares slope of log(time) against log(L); None with fewer than 2 points."""
    if len(lengths) < 2:
        return None
    x, y = np.log(np.asarray(lengths, float)), np.log(np.asarray(seconds, float))
    return float(np.polyfit(x, y, 1)[0])


def boundary_norm(norms, speedups):
    """Where the speedup crosses 1 along the norm axis at one L.

    Returns (norm, how) or None when no crossing is bracketed. `how` is
    "interpolated" (log speedup linear between the last norm with speedup >= 1 and
    the next) or "bracketed" (the next point is infeasible, speedup 0: the midpoint
    of the bracket is returned)."""
    pairs = sorted(zip(norms, speedups))
    for (n0, s0), (n1, s1) in zip(pairs, pairs[1:]):
        if s0 >= 1 > s1:
            if s1 <= 0:
                return n0 + 0.5 * (n1 - n0), "bracketed"
            t = math.log(s0) / (math.log(s0) - math.log(s1))
            return n0 + t * (n1 - n0), "interpolated"
    return None


def fit_boundary(lengths, boundary, squared=True):
    """Least squares of boundary^2 (or boundary, for a T axis) = a + b ln L.
    Returns dict(a, b, r2, n) or None with fewer than 2 points."""
    if len(lengths) < 2:
        return None
    x = np.log(np.asarray(lengths, float))
    y = np.asarray(boundary, float) ** (2 if squared else 1)
    b, a = np.polyfit(x, y, 1)
    fitted = a + b * x
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return {"a": float(a), "b": float(b), "r2": r2, "n": len(lengths)}


def pareto_front(points):
    """Indices of (time, error) pairs not dominated by another (lower or equal in both,
    lower in one)."""
    front = []
    for i, (t, e) in enumerate(points):
        dominated = any((t2 <= t and e2 <= e) and (t2 < t or e2 < e) for j, (t2, e2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front
