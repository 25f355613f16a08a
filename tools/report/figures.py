"""The report's figures (matplotlib, Agg)."""
import math
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .common import save_figure  # noqa: E402
from .fits import loglog_slope, pareto_front  # noqa: E402
from .phase import curve  # noqa: E402
from .results import is_exact, is_selector  # noqa: E402


def time_vs_length(points, d, dtype, path):
    """Median time vs L on log-log axes, one line per (algorithm, norm), partial and full
    side by side. Returns the fitted slopes {(mode, algorithm, norm): slope}."""
    modes = sorted({p["mode"] for p in points if p["d"] == d and p["dtype"] == dtype}, reverse=True)
    fig, axes = plt.subplots(1, len(modes), figsize=(6.5 * len(modes), 4.8), squeeze=False)
    slopes = {}
    for ax, mode in zip(axes[0], modes):
        series = defaultdict(list)
        for p in points:
            if (p["d"], p["dtype"], p["mode"]) == (d, dtype, mode) and p.get("status") == "ok":
                # A spec's points share its flag: the key only carries it to the line style.
                series[(p["algorithm"], p["norm"], is_exact(p))].append((p["L"], p["median_s"]))
        for (algorithm, norm, exact), pts in sorted(series.items()):
            pts.sort()
            Ls, ts = zip(*pts)
            slope = loglog_slope(Ls, ts)
            slopes[(mode, algorithm, norm)] = slope
            label = f"{algorithm} {points[0]['norm_axis']}={norm:g}" + (f" (slope {slope:.2f})" if slope else "")
            ax.loglog(Ls, ts, "s--" if exact else "o-", label=label, ms=3, lw=1)
        ax.set_xlabel("L")
        ax.set_ylabel("median time [s]")
        ax.set_title(f"{mode}, d={d}, {dtype}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, ncol=1)
    save_figure(fig, path)
    return slopes


def phase_diagram(grid, crossings, fit, axis, squared, title, path, overlays=()):
    """overlays: (crossings, label, matplotlib format) drawn over the measured
    ones: the cost model's predicted crossings, an earlier run's."""
    Ls = sorted({L for L, _ in grid})
    norms = sorted({n for _, n in grid})
    Z = np.full((len(norms), len(Ls)), np.nan)
    for (L, n), (s, _) in grid.items():
        Z[norms.index(n), Ls.index(L)] = math.log10(s) if s > 0 else -3
    fig, ax = plt.subplots(figsize=(7, 5))
    x = np.log2(Ls)
    mesh = ax.pcolormesh(x, norms, Z, cmap="RdBu", vmin=-2, vmax=2, shading="nearest")
    fig.colorbar(mesh, ax=ax, label="log10 speedup, approximate over exact")
    if len(Ls) > 1 and len(norms) > 1 and np.nanmin(Z) < 0 < np.nanmax(Z):
        ax.contour(x, norms, np.nan_to_num(Z, nan=-3), levels=[0], colors="k", linewidths=1.5)
    if crossings:
        cx = [math.log2(c[0]) for c in crossings]
        ax.plot(cx, [c[1] for c in crossings], "k^", label="measured crossing (speedup = 1)")
    for other, label, style in overlays:
        if other:
            ax.plot([math.log2(c[0]) for c in other], [c[1] for c in other], style, label=label, mfc="none", mew=1.5)
    if fit:
        xs = np.linspace(min(Ls), max(Ls), 50)
        ax.plot(np.log2(xs), curve(fit, xs, squared), "y-", lw=2,
                label=("fit Gamma*^2 = a + b ln L" if squared else "fit T* = a + b ln L"))
    ax.set_xlabel("log2 L")
    ax.set_ylabel("Gamma (max |X W|)" if axis == "gamma" else "T (score bound)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    save_figure(fig, path)


def error_plots(points, dtype, path):
    """Error vs rank and vs norm for the approximate algorithms, partial | full."""
    approx = [p for p in points if not is_exact(p) and not is_selector(p) and p.get("status") == "ok"
              and p.get("error") and p["dtype"] == dtype]
    modes = sorted({p["mode"] for p in approx}, reverse=True) or ["partial"]
    fig, axes = plt.subplots(2, len(modes), figsize=(6.5 * len(modes), 8), squeeze=False)
    for col, mode in enumerate(modes):
        by_alg = defaultdict(list)
        for p in approx:
            if p["mode"] == mode:
                by_alg[p["algorithm"]].append(p)
        for algorithm, ps in sorted(by_alg.items()):
            # Every approximate method reports its rank (poly's C(d + g, g), a random map's m).
            ranked = [p for p in ps if "rank" in p["info"]]
            axes[0][col].loglog([p["info"]["rank"] for p in ranked], [max(p["error"]["max_rel"], 1e-17) for p in ranked],
                                "o", ms=3, alpha=0.6, label=algorithm)
            axes[1][col].semilogy([p["norm"] for p in ps], [max(p["error"]["max_rel"], 1e-17) for p in ps],
                                  "o", ms=3, alpha=0.6, label=algorithm)
        axes[0][col].set_xlabel("rank k (features)")
        axes[1][col].set_xlabel(points[0]["norm_axis"])
        for row in (0, 1):
            axes[row][col].set_ylabel("max_rel error vs float64 reference")
            axes[row][col].set_title(f"{mode}, {dtype}")
            axes[row][col].grid(True, alpha=0.3)
            axes[row][col].legend(fontsize=7)
    save_figure(fig, path)


def pareto_plot(rows, title, path):
    """rows: [(label, time, error)]; the frontier drawn as a step line."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    pts = [(t, max(e, 1e-17)) for _, t, e in rows]
    front = sorted(pareto_front(pts), key=lambda i: pts[i][0])
    for i, (label, t, e) in enumerate(rows):
        ax.loglog(t, max(e, 1e-17), "o" if i in front else "x", label=label)
    if front:
        ax.loglog([pts[i][0] for i in front], [pts[i][1] for i in front], "k-", lw=1, drawstyle="steps-post")
    ax.set_xlabel("median time [s]")
    ax.set_ylabel("max_rel error")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    save_figure(fig, path)
