"""Report sections and figures for the looped-transformer experiments
(tools/looped_experiments.py): loss vs loops against the GD references,
distance of A to the nearest multiple of Sigma^-1 along training, evaluation
beyond the trained loop count, and loss vs training step."""
import json
import os

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import gbench  # noqa: E402
from .common import fmt, save_figure  # noqa: E402


class LoopedResultsError(ValueError):
    pass


def load(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise LoopedResultsError(f"{path}: not a looped results file ({e})")
    if not isinstance(data, dict) or "covariances" not in data or "config" not in data:
        raise LoopedResultsError(f"{path}: not a looped results file (no 'config'/'covariances')")
    return data


def _label(entry):
    return "isotropic" if entry["kind"] == "isotropic" else f"anisotropic (cond {entry['condition']:.3g})"


def _reference(entry, name, loops):
    return next(r for r in entry["references"][name] if r["loops"] == loops)


def _panels(data):
    entries = data["covariances"]
    fig, axes = plt.subplots(1, len(entries), figsize=(6.2 * len(entries), 4.6), squeeze=False)
    return fig, list(zip(axes[0], entries))


def _decorate(ax, entry, xlabel, ylabel, legend_size=None):
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(_label(entry))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=legend_size)


def figure_loss_vs_loops(data, path):
    fig, panels = _panels(data)
    for ax, e in panels:
        for name, style, label in (("preconditioned_gd", "-", "best GD, A = a Sigma^-1"),
                                   ("plain_gd", "--", "best GD, A = a I")):
            rows = e["references"][name]
            ax.plot([r["loops"] for r in rows], [r["test_loss"] for r in rows], style, label=label)
        ax.plot([m["loops"] for m in e["models"]], [m["test_loss"] for m in e["models"]], "o",
                markersize=7, label="trained looped transformer")
        _decorate(ax, e, "loops T", "test loss / E[y^2]")
    save_figure(fig, path)


def figure_distance(data, path):
    fig, panels = _panels(data)
    for ax, e in panels:
        for m in e["models"]:
            ax.plot(m["curve"]["step"], m["curve"]["distance"], label=f"T = {m['loops']}")
        _decorate(ax, e, "training step", "min_c ||A - c Sigma^-1||_F / ||A||_F")
    save_figure(fig, path)


def figure_extrapolation(data, path):
    fig, panels = _panels(data)
    for ax, e in panels:
        rows = e["references"]["preconditioned_gd"]
        ax.plot([r["loops"] for r in rows], [r["test_loss"] for r in rows], "k--",
                label="best GD, A = a Sigma^-1, a tuned per T")
        for m in e["models"]:
            losses = m["test_loss_by_loops"]
            line, = ax.plot(range(len(losses)), losses, label=f"trained with T = {m['loops']}")
            ax.plot([m["loops"]], [losses[m["loops"]]], "o", color=line.get_color())
        _decorate(ax, e, "loops at evaluation", "test loss / E[y^2]", legend_size=8)
        ax.set_ylim(top=2.0)
    save_figure(fig, path)


def figure_training(data, path):
    fig, panels = _panels(data)
    for ax, e in panels:
        for m in e["models"]:
            target = _reference(e, "preconditioned_gd", m["loops"])["test_loss"]
            line, = ax.plot(m["curve"]["step"], m["curve"]["eval_loss"], label=f"T = {m['loops']}")
            ax.axhline(target, color=line.get_color(), linestyle=":", linewidth=1)
        _decorate(ax, e, "training step", "eval loss / E[y^2] (dotted: best preconditioned GD)")
    save_figure(fig, path)


def whitened_structure(A, sigma):
    """A in whitened coordinates, At = Sigma^1/2 A Sigma^1/2 (where the task is
    isotropic and the optimum of the paper's theorem is c I): the antisymmetric
    share ||At - At^T|| / (2 ||At||) and the eigenvalue range of its symmetric part."""
    w, V = np.linalg.eigh(np.asarray(sigma))
    half = V @ np.diag(np.sqrt(w)) @ V.T
    At = half @ np.asarray(A) @ half
    sym = 0.5 * (At + At.T)
    eig = np.linalg.eigvalsh(sym)
    return np.linalg.norm(At - At.T) / (2 * np.linalg.norm(At)), eig.min(), eig.max()


def _steps_to_within(curve, target, factor):
    """First step whose eval loss is within `factor` of target (None if never)."""
    for step, loss in zip(curve["step"], curve["eval_loss"]):
        if loss <= factor * target:
            return step
    return None


def results_sections(data, out):
    cfg, machine = data["config"], data["machine"]
    opt = data["covariances"][0]["models"][0]["optimizer"] if data["covariances"][0]["models"] else {}
    lines = [f"# Looped linear transformer: {cfg.get('name', 'looped')}", "",
             "## Setting", "",
             f"- Tasks: d = {cfg['d']}, n = {cfg['n']}; x_i, x_q ~ N(0, Sigma), w* ~ N(0, Sigma^-1), "
             "y = <w*, x>, no noise; E[y^2] = d, and every loss below is divided by it.",
             "- Model: Z <- Z - (1/n) P Z M (Z^T Q Z) looped T times with shared weights, "
             "Q = [[A^T, 0], [0, 0]], P = [[0, 0], [u^T, 1]], prediction -Z_T(d, n); "
             "with u = 0 this is w_{t+1} = w_t + (1/n) A X^T (y - X w_t).",
             f"- Training: {opt.get('optimizer', '?')} (lr {opt.get('learning_rate', '?')}, betas "
             f"{opt.get('beta1', '?')}/{opt.get('beta2', '?')}, eps {opt.get('epsilon', '?')}, cosine decay "
             f"{opt.get('cosine_decay', '?')}), {opt.get('steps', '?')} steps of {opt.get('batch', '?')} fresh "
             f"prompts each, exact gradients ({opt.get('gradient', '?')}), symmetric random A_0, u_0 "
             f"of scale {opt.get('init_scale', '?')}.",
             f"- References: for each T, a in A = a Sigma^-1 (preconditioned GD) and A = a I (plain GD) "
             f"minimises the Monte Carlo T-step loss on {cfg['reference_tasks']} tasks (log grid, then golden "
             f"section). Every method is then scored on the same {cfg['test_tasks']} held-out tasks, the "
             "expectation over the query taken exactly: (w_T - w*)^T Sigma (w_T - w*).",
             f"- Machine: {machine.get('blas_config', '?')}; OpenMP {machine.get('omp_threads', '?')} threads, "
             f"BLAS {machine.get('blas_threads', '?')}; OPENBLAS_CORETYPE={machine.get('OPENBLAS_CORETYPE', '?')}; "
             f"build {machine.get('build', '?')}.", "",
             "## Test loss vs loops", "", "![loss vs loops](loss_vs_loops.png)", ""]
    for e in data["covariances"]:
        lines += [f"### {_label(e)}", "",
                  "| T | trained | best precond. GD (a) | best plain GD (a) | trained / precond. | "
                  "distance to c Sigma^-1 | ‖u‖ | train s |", "|---|---|---|---|---|---|---|---|"]
        for m in e["models"]:
            p, g = _reference(e, "preconditioned_gd", m["loops"]), _reference(e, "plain_gd", m["loops"])
            lines.append(f"| {m['loops']} | {fmt(m['test_loss'], '.4f')} | "
                         f"{fmt(p['test_loss'], '.4f')} ({p['scale']:.3f}) | "
                         f"{fmt(g['test_loss'], '.4f')} ({g['scale']:.3f}) | {m['test_loss'] / p['test_loss']:.3f} | "
                         f"{m['curve']['distance'][-1]:.3f} | {m['curve']['u_norm'][-1]:.2g} | "
                         f"{m['train_seconds']:.1f} |")
        lines.append("")
    figure_loss_vs_loops(data, os.path.join(out, "loss_vs_loops.png"))
    figure_distance(data, os.path.join(out, "distance.png"))
    figure_extrapolation(data, os.path.join(out, "extrapolation.png"))
    figure_training(data, os.path.join(out, "training.png"))
    lines += ["## Distance of A to the nearest multiple of Sigma^-1 along training", "",
              "![distance](distance.png)", "",
              "The learned A in whitened coordinates, At = Sigma^1/2 A Sigma^1/2, where every multiple of "
              "Sigma^-1 becomes c I: its antisymmetric share and the eigenvalue range of its symmetric part "
              "(the preconditioned-GD optimum a for comparison).", "",
              "| Sigma | T | antisymmetric share | eig. min | eig. max | best a |", "|---|---|---|---|---|---|"]
    for e in data["covariances"]:
        for m in e["models"]:
            asym, lo, hi = whitened_structure(m["A"], e["sigma"])
            a = _reference(e, "preconditioned_gd", m["loops"])["scale"]
            lines.append(f"| {_label(e)} | {m['loops']} | {asym:.3f} | {lo:.3f} | {hi:.3f} | {a:.3f} |")
    lines += ["",
              "## Evaluated at more loops than trained", "",
              "Each trained model run for 0..{} loops (dots: its training T); dashed: preconditioned GD with a "
              "re-tuned for every loop count.".format(max(len(m["test_loss_by_loops"]) for e in data["covariances"]
                                                        for m in e["models"]) - 1), "",
              "![extrapolation](extrapolation.png)", ""]
    lines += ["| Sigma | trained T | loss at T | at 2T | at last | best precond. GD at last |", "|---|---|---|---|---|---|"]
    for e in data["covariances"]:
        for m in e["models"]:
            losses, T = m["test_loss_by_loops"], m["loops"]
            last = len(losses) - 1
            lines.append(f"| {_label(e)} | {T} | {fmt(losses[T], '.4f')} | "
                         f"{fmt(losses[2 * T], '.4f') if 2 * T <= last else '-'} | {fmt(losses[last], '.3g')} | "
                         f"{fmt(_reference(e, 'preconditioned_gd', last)['test_loss'], '.4f')} |")
    lines += ["", "## Loss vs training step", "",
              "Eval loss on a fixed set of prompts (exact over the query) during training; dotted lines: the "
              "best preconditioned GD at the same T.", "", "![training](training.png)", "",
              "| Sigma | T | steps to within 2x | within 1.1x | final eval / precond. GD |", "|---|---|---|---|---|"]
    for e in data["covariances"]:
        for m in e["models"]:
            target = _reference(e, "preconditioned_gd", m["loops"])["test_loss"]
            s2, s11 = _steps_to_within(m["curve"], target, 2.0), _steps_to_within(m["curve"], target, 1.1)
            lines.append(f"| {_label(e)} | {m['loops']} | {int(s2) if s2 is not None else 'never'} | "
                         f"{int(s11) if s11 is not None else 'never'} | {m['curve']['eval_loss'][-1] / target:.3f} |")
    lines += ["", "## Config", "", "```json", json.dumps(cfg, indent=2), "```", ""]
    return lines


def figure_forward_cost(times, path):
    """Forward time vs n on log-log axes per (d, T, form); returns the fitted
    slope of log time on log n over n >= 256 (where the leading term shows)."""
    fig, ax = plt.subplots(figsize=(7, 4.8))
    slopes = {}
    for key in sorted({(d, T, form) for (d, n, T, form) in times}):
        d, T, form = key
        pts = sorted((n, t) for (dd, n, TT, f), t in times.items() if (dd, TT, f) == key)
        ns, ts = [p[0] for p in pts], [p[1] for p in pts]
        big = [(n, t) for n, t in pts if n >= 256]
        if len(big) >= 2:
            slopes[key] = float(np.polyfit(np.log([b[0] for b in big]), np.log([b[1] for b in big]), 1)[0])
        if T == 4:
            ax.plot(ns, ts, "o-" if form == "linear" else "s--", label=f"{form}, d = {d}, T = {T}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n (examples in the prompt)")
    ax.set_ylabel("ms per forward pass")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save_figure(fig, path)
    return slopes


def gbench_section(paths, out):
    """Forward-pass timings from bench_looped: quadratic vs linear form."""
    lines = ["## Cost of the looped forward pass (Google Benchmark)", "",
             "Time per forward pass of T loops, d fixed; the quadratic form builds the n x (n+1) attention matrix "
             "(O(T n^2 d)), the linear form the (d+1) x (d+1) product first (O(T n d^2)).", ""]
    for path in paths:
        bench = gbench.load(path)
        lines += [gbench.context_line(bench), "",
                  "| d | n | T | quadratic ms | linear ms | quadratic / linear |", "|---|---|---|---|---|---|"]
        # Runs are named looped_forward_pass/<form>/d:../n:../T:..
        times = {(int(r.parts["d"]), int(r.parts["n"]), int(r.parts["T"]), r.segments[1]): r.real_time_ms
                 for r in bench.runs}
        for (d, n, T) in sorted({k[:3] for k in times}):
            q, lin = times.get((d, n, T, "quadratic")), times.get((d, n, T, "linear"))
            ratio = f"{q / lin:.2f}" if q and lin else "-"
            lines.append(f"| {d} | {n} | {T} | {fmt(q, '.4g')} | {fmt(lin, '.4g')} | {ratio} |")
        name = f"forward_cost_{bench.stem}.png"
        slopes = figure_forward_cost(times, os.path.join(out, name))
        lines += ["", f"![forward cost]({name})", "",
                  "Log-log slope of time in n over n >= 256 (2 expected for quadratic, 1 for linear):", "",
                  "| d | T | form | slope |", "|---|---|---|---|"]
        lines += [f"| {d} | {T} | {form} | {s:.2f} |" for (d, T, form), s in sorted(slopes.items())]
        lines.append("")
    return lines


def sections(data, out, gbench_paths):
    """The report's Markdown lines; figures are written into out."""
    lines = results_sections(data, out)
    if gbench_paths:
        lines += gbench_section(gbench_paths, out)
    return lines
