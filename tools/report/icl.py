"""Report sections and figures for the in-context deep-learning experiments
(tools/icl_experiments.py): the ICGD transformer's distance to direct GD along
the steps against Corollary 1.1, its fall with the heads per layer, query
predictions against the directly trained network, and the cost of one step."""
import json
import os

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import gbench  # noqa: E402
from .common import fmt, save_figure  # noqa: E402


class IclResultsError(ValueError):
    pass


def load(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise IclResultsError(f"{path}: not an ICL results file ({e})")
    if not isinstance(data, dict) or "config" not in data or not ({"error", "regression", "cost"} & set(data)):
        raise IclResultsError(f"{path}: not an ICL results file (no 'config' and no error/regression/cost part)")
    return data


def corollary_bound(eps, eta, lf, step):
    """Lemma 14 / Corollary 1.1 with per-step error eta*eps: the exact sum
    eps ((1 + eta L_f)^l - 1) / L_f and the stated L_f^-1 (1 + eta L_f)^l eps."""
    growth = (1.0 + eta * lf) ** step
    return eps * (growth - 1.0) / lf, eps * growth / lf


def _max_gap(row):
    return np.max(np.array(row["gap"]), axis=0)  # worst prompt, per step l = 0..L


def figure_gap_vs_step(err, eta, path):
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    steps = np.arange(err["steps"] + 1)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(err["rows"])))
    for row, c in zip(err["rows"], colors):
        ax.plot(steps[1:], _max_gap(row)[1:], "o-", color=c, label=f"{row['max_heads_per_layer']} heads/layer")
        bound = [corollary_bound(row["gradient_error_bound"], eta, err["lipschitz_estimate"], l)[0] for l in steps[1:]]
        ax.plot(steps[1:], bound, "--", color=c, alpha=0.6)
    ax.set_yscale("log")
    ax.set_xlabel("GD step l")
    ax.set_ylabel("max over prompts ||w_ICL^l - w_GD^l||")
    ax.set_title("measured (solid) vs Corollary 1.1 bound (dashed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def figure_gap_vs_heads(err, eta, path):
    """Returns the log-log slope of the final gap against heads per layer."""
    fig, ax = plt.subplots(figsize=(7, 4.8))
    heads = np.array([r["max_heads_per_layer"] for r in err["rows"]], dtype=float)
    first = np.array([_max_gap(r)[1] for r in err["rows"]])
    last = np.array([_max_gap(r)[-1] for r in err["rows"]])
    step_bound = np.array([eta * r["gradient_error_bound"] for r in err["rows"]])
    ax.loglog(heads, first, "o-", label="measured, step 1")
    ax.loglog(heads, last, "s-", label=f"measured, step {err['steps']}")
    ax.loglog(heads, step_bound, "k--", label="a-priori eta * eps (one step)")
    ax.set_xlabel("heads per layer (largest layer of a block)")
    ax.set_ylabel("||w_ICL - w_GD||")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path)
    ok = last > 0
    return float(np.polyfit(np.log(heads[ok]), np.log(last[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")


def error_section(data, out):
    err, cfg = data["error"], data["config"]
    eta, lf = cfg["eta"], err["lipschitz_estimate"]
    figure_gap_vs_step(err, eta, os.path.join(out, "gap_vs_step.png"))
    slope = figure_gap_vs_heads(err, eta, os.path.join(out, "gap_vs_heads.png"))
    L = err["steps"]
    lines = ["## Distance to direct GD along the steps (Corollary 1.1)", "",
             f"N = {err['N']}, K = {cfg['K']}, d = {cfg['d']}, n = {cfg['n']}, {cfg['activation']}, eta = {eta}, "
             f"box radius {cfg['radius']}, {err['prompts']} prompts from N(-2, I), w^0 random in W. "
             f"Direct step size ||w^1 - w^0||: {min(err['step_norm']):.3g} to {max(err['step_norm']):.3g}.", "",
             f"L_f = {lf:.4g}: the largest Hessian norm met along the direct GD paths (power iteration on "
             "finite-difference Hessian-vector products), a local estimate of the Lipschitz constant of grad L_n "
             "on W. Bound at step l: eps ((1 + eta L_f)^l - 1) / L_f (Lemma 14 summed exactly); Corollary 1.1 "
             "states the looser L_f^-1 (1 + eta L_f)^l eps. The paper prints (1 + n L_f); Lemma 14's own recursion "
             "(and Bai et al.'s Lemma G.1) gives eta, which is what is used here.", "",
             "| ReLU units (r / r') | heads/layer | fit error r: bound / measured | eps (a-priori) | "
             "max measured step error | gap step 1 | eta eps | gap step L | bound step L | Cor. 1.1 as stated |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in err["rows"]:
        g = _max_gap(r)
        step_err = max(max(s) for s in r["step_error"])
        exact, stated = corollary_bound(r["gradient_error_bound"], eta, lf, L)
        lines.append(f"| {r['units_r']} / {r['units_r_prime']} | {r['max_heads_per_layer']} | "
                     f"{r['fit_error_r']:.2g} / {r['measured_fit_error_r']:.2g} | {r['gradient_error_bound']:.3g} | "
                     f"{step_err:.3g} | {g[1]:.3g} | {eta * r['gradient_error_bound']:.3g} | {g[-1]:.3g} | "
                     f"{exact:.3g} | {stated:.3g} |")
    lines += ["", "![gap vs step](gap_vs_step.png)", "", "![gap vs heads](gap_vs_heads.png)", "",
              f"Log-log slope of the step-{L} gap in the heads per layer: {slope:.2f} (the interpolation error of a "
              "sum of H ReLUs falls like H^-2; Theorem 1 only promises O(eps) with H = O(eps^-2), slope -1/2).", ""]
    return lines


def figure_regression(rows, path):
    ns = sorted({r["n"] for r in rows})
    Ns = sorted({r["N"] for r in rows})
    fig, axes = plt.subplots(1, len(ns), figsize=(6.2 * len(ns), 4.6), squeeze=False)
    for ax, n in zip(axes[0], ns):
        for N, c in zip(Ns, plt.cm.tab10.colors):
            sel = [r for r in rows if r["n"] == n and r["N"] == N]
            x = np.arange(len(sel))
            ax.plot(x, [r["r2_transformer"] for r in sel], "o-", color=c, label=f"{N}-layer, transformer")
            ax.plot(x, [r["r2_direct"] for r in sel], "x--", color=c, ms=9, label=f"{N}-layer, direct GD")
            ax.plot(x, [r["r2_prompt_mean"] for r in sel], ":", color=c, alpha=0.6, label=f"{N}-layer, prompt mean")
            ax.set_xticks(x, [f"({m[0]:g}, {m[1]:g})" for m in (r["mixture"] for r in sel)])
        ax.set_xlabel("test mixture (w1, w2)")
        ax.set_ylabel("R^2 of the query prediction")
        ax.set_title(f"n = {n} in-context examples")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path)


def _regression_reading(rows):
    """One sentence on what the pooled R^2 means next to its baselines."""
    diff = max(r["max_abs_difference"] for r in rows)
    below_mean = sum(r["r2_direct"] < r["r2_prompt_mean"] for r in rows)
    negative = sum(r.get("r2_within", {}).get("direct", 0.0) < 0 for r in rows)
    return (f"Transformer and direct GD agree to {diff:.2g} in every query prediction. Direct GD's pooled R^2 is "
            f"below the prompt-mean baseline in {below_mean} of {len(rows)} settings and its within-prompt R^2 "
            f"is negative in {negative}: on this data the targets vary far more between prompts than within one, "
            "and a few GD steps learn each prompt's level, not the shape of its target.")


def regression_section(data, out):
    rows, cfg = data["regression"], data["config"]
    figure_regression(rows, os.path.join(out, "r2_vs_mixture.png"))
    lines = ["## Query prediction: transformer vs directly trained network", "",
             f"d = {cfg['d']}, x ~ w1 N(-2, I) + w2 N(2, I), target y = f*(x) from a random N-layer network "
             f"(width {cfg['K']}, weights N(0, {cfg['target_scale']}^2), {cfg['activation']}), a fresh target per "
             f"prompt. The learner (same architecture) starts from a random w^0 in W and takes {cfg['steps']} projected "
             f"GD steps (eta = {cfg['eta']}), in the transformer ({rows[0]['relu_units']} ReLU units per fitted "
             "function) and directly. R^2 pools the query predictions of all prompts. Baselines: the untrained "
             "w^0 and the prompt's mean label. Pooled over prompts, R^2 rewards getting each prompt's level right; "
             f"the within-prompt R^2 asks for the shape: f(w^L, .) on {rows[0].get('held_out', '?')} held-out points "
             "of each prompt's target, 1 - sum of squared errors / sum of squared deviations from each prompt's "
             "own mean (w^L as the transformer read it out, and direct GD's).", "",
             "| N | n | mixture | prompts | R^2 transformer | R^2 direct GD | max abs(transformer - direct) | "
             "R^2 w^0 | R^2 prompt mean | within: transformer | within: direct | within: prompt mean | "
             "median s per prompt |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        w = r.get("r2_within", {})
        lines.append(f"| {r['N']} | {r['n']} | ({r['mixture'][0]:g}, {r['mixture'][1]:g}) | {r['prompts']} | "
                     f"{r['r2_transformer']:.4f} | {r['r2_direct']:.4f} | {r['max_abs_difference']:.2g} | "
                     f"{r['r2_initial']:.3f} | {r['r2_prompt_mean']:.3f} | {fmt(w.get('transformer'), '.4f')} | "
                     f"{fmt(w.get('direct'), '.4f')} | {fmt(w.get('prompt_mean'), '.3f')} | "
                     f"{r['median_run_s']:.3g} |")
    lines += ["", "![R^2 vs mixture](r2_vs_mixture.png)", "",
              _regression_reading(rows), "",
              "The construction has no pretraining: the examples and the query come from the same mixture, so a "
              "mixture changes the data, not a train/test shift as in the paper's trained transformers.", ""]
    return lines


def cost_section(data):
    lines = ["## Size of one ICGD block", "",
             "Per GD step: 2N+4 layers. FLOPs: executed by the sparse layers / the same layers with dense D x D "
             "head matrices (the form the paper states) / one direct GD step (6 n D_w, forward, backward and "
             "gradient products only).", "",
             "| N | K | n | layers | heads | max heads/layer | token width D | D_w | FLOPs | dense FLOPs | direct FLOPs | "
             "FLOPs / direct |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["cost"]:
        lines.append(f"| {r['N']} | {r['K']} | {r['n']} | {r['layers']} | {r['heads']} | {r['max_heads_per_layer']} | "
                     f"{r['width']} | {r['parameters']} | {r['flops']:.3g} | {r['dense_flops']:.3g} | "
                     f"{r['direct_flops']:.3g} | {r['flops'] / r['direct_flops']:.3g} |")
    return lines + [""]


def _runs_by_key(bench):
    """{(kind, N, K, n): run} for runs named <kind>/N:../K:../n:.."""
    return {(r.segments[0], int(r.parts["N"]), int(r.parts["K"]), int(r.parts["n"])): r for r in bench.runs}


def figure_step_cost(runs, path):
    keys = sorted({k[1:] for k in runs})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, axis, label in zip(axes, (0, 1, 2), ("N (layers)", "K (width)", "n (examples)")):
        base = [k for k in keys if sum(k[i] != (3, 8, 64)[i] for i in range(3) if i != axis) == 0]
        base.sort(key=lambda k: k[axis])
        for kind, style in (("icgd_step", "o-"), ("direct_gd_step", "s--")):
            pts = [(k[axis], runs[(kind,) + k].real_time_ms) for k in base if (kind,) + k in runs]
            if pts:
                ax.plot(*zip(*pts), style, label=kind.replace("_", " "))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("ms per step")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    save_figure(fig, path)


def gbench_section(paths, out):
    lines = ["## Measured cost of one GD step (Google Benchmark, bench_icl)", "",
             "One ICGD block on the prompt (2N+4 layers) vs one direct projected GD step on the same data, d = 20, "
             "sigmoid, 32 ReLU units per fitted function; both timed in the same run.", ""]
    for path in paths:
        bench = gbench.load(path)
        runs = _runs_by_key(bench)
        lines += [gbench.context_line(bench), "",
                  "| N | K | n | ICGD ms | direct ms | ICGD / direct | ICGD GFLOP/s | heads | width |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for key in sorted({k[1:] for k in runs}):
            icgd, direct = runs.get(("icgd_step",) + key), runs.get(("direct_gd_step",) + key)
            ratio = f"{icgd.real_time_ms / direct.real_time_ms:.0f}" if icgd and direct else "-"
            c = icgd.counters if icgd else {}
            lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(icgd and icgd.real_time_ms, '.4g')} | "
                         f"{fmt(direct and direct.real_time_ms, '.4g')} | {ratio} | "
                         f"{fmt(c.get('GFLOPs'), '.1f')} | "
                         f"{fmt(c.get('heads'), '.0f')} | {fmt(c.get('width'), '.0f')} |")
        name = f"step_cost_{bench.stem}.png"
        figure_step_cost(runs, os.path.join(out, name))
        lines += ["", f"![step cost]({name})", ""]
    return lines


def sections(data, out, gbench_paths):
    """The report's Markdown lines; figures are written into out."""
    cfg = data["config"]
    m = data.get("machine", {})
    lines = [f"# In-context deep learning: ICGD transformer vs direct GD ({cfg.get('name', '')})", "",
             f"Machine: {m.get('build', '?')}; {m.get('blas_config', '?')}; OpenMP threads {m.get('omp_threads', '?')}, "
             f"BLAS threads {m.get('blas_threads', '?')}, OPENBLAS_CORETYPE {m.get('OPENBLAS_CORETYPE', '?')}. "
             f"Run time {data.get('seconds', float('nan')):.0f} s.", ""]
    if "error" in data:
        lines += error_section(data, out)
    if "regression" in data:
        lines += regression_section(data, out)
    if "cost" in data:
        lines += cost_section(data)
    lines += ["## Config", "", "```json", json.dumps(cfg, indent=2), "```", ""]
    if gbench_paths:
        lines += gbench_section(gbench_paths, out)
    return lines
