"""Report sections for the LoRA attention-gradient sweeps (results written by
lorafgc-sweep): machine and config, time vs L, the phase diagram, errors, the
variant comparison, PyTorch and Google Benchmark runs; and the point-by-point
comparison of two results files."""
import json
import math
import os
import statistics
from collections import defaultdict

from . import cost_model, figures, gbench, phase
from .common import fmt
from .fits import pareto_front
from .regret import section_auto
from .results import ResultsError, is_exact, is_selector, load_results, point_key

load = load_results  # the workload's entry points: load, sections (and compare)


def sections(results, out, torch_paths, gbench_paths, previous=None):
    """The report's Markdown lines; figures are written into out. `previous`, the
    (header, points) of an earlier run, adds its boundary to the phase diagrams."""
    header, points = results
    lines = section_header(header, points)
    if points:
        lines += section_scaling(points, out)
        lines += section_phase(points, header, out, previous)
        lines += section_prediction(points, header)
        lines += section_errors(points, out)
        lines += section_variants(points, out)
        lines += section_auto(points)
    if torch_paths:
        lines += section_torch(torch_paths)
    if gbench_paths:
        lines += section_gbench(gbench_paths)
    return lines


def family_of(cfg):
    """The sweep's instance family: a name, or an object with "name" (gaussian when absent)."""
    family = cfg.get("family", "gaussian")
    return family.get("name", "?") if isinstance(family, dict) else family


def section_header(header, points):
    cfg, m = header["config"], header.get("machine", {})
    status = defaultdict(int)
    for p in points:
        status[p.get("status", "?")] += 1
    lines = [f"# lorafgc report: {cfg.get('name', 'sweep')}", "",
             f"Config hash `{header['config_hash']}`; {len(points)} points "
             f"({', '.join(f'{k}: {v}' for k, v in sorted(status.items()))}); instance family "
             f"`{family_of(cfg)}` (docs/instance-families.md).", "",
             "## Machine and build", "",
             f"- CPU: {m.get('cpu', '?')}, {m.get('hardware_threads', '?')} hardware threads, "
             f"{fmt(m.get('physical_memory_bytes', float('nan')) / 2**30, '.1f')} GiB",
             f"- BLAS: {m.get('blas_config', '?')}; threads: OpenMP {m.get('omp_threads', '?')}, "
             f"BLAS {m.get('blas_threads', '?')}; OPENBLAS_CORETYPE={m.get('OPENBLAS_CORETYPE', '?')}",
             f"- build: {m.get('build', '?')}; heap: {m.get('heap', 'system')}", "",
             "## Config", "", "```json", "{",
             ",\n".join(f'  "{k}": {json.dumps(v)}' for k, v in sorted(cfg.items())), "}", "```", ""]
    return lines


def section_scaling(points, out):
    lines = ["## Time vs L", "",
             "Median time per point on log-log axes; the slope is the least-squares fit of",
             "log time on log L over all L of the series.", ""]
    table = ["| mode | algorithm | d | dtype | norm | slope |", "|---|---|---|---|---|---|"]
    for d in sorted({p["d"] for p in points}):
        for dtype in sorted({p["dtype"] for p in points}):
            name = f"time_vs_L_d{d}_{dtype}.png"
            slopes = figures.time_vs_length(points, d, dtype, os.path.join(out, name))
            lines += [f"![time vs L, d={d}, {dtype}]({name})", ""]
            for (mode, algorithm, norm), s in sorted(slopes.items()):
                table.append(f"| {mode} | {algorithm} | {d} | {dtype} | {norm:g} | {fmt(s, '.3f')} |")
    return lines + table + [""]


def section_phase(points, header, out, previous=None):
    cfg = header["config"]
    axis = "gamma" if "gamma" in cfg else "T"
    squared = axis == "gamma"
    target = cfg.get("target_error", 1e-3)
    predicts = any(cost_model.calibration(header, dt) for dt in {p["dtype"] for p in points})
    lines = ["## Phase diagram", "",
             f"Speedup of the fastest approximate variant that met the target error (max_rel <= {target:g} "
             "against the float64 reference, where measured) over `exact`, on the (log L, "
             f"{'Gamma' if squared else 'T'}) plane. Blue: approximate wins; red: exact wins; darkest red: no "
             "approximate variant met the target (refused by the resource guard, over the time limit, or too "
             "inaccurate). The black contour is speedup = 1; triangles are the crossing per L (log speedup "
             "interpolated along the norm axis); the yellow curve fits "
             + ("Gamma*^2 = a + b ln L, the theory's Gamma* ~ sqrt(log L) with an intercept."
                if squared else
                "T* = a + b ln L. The sweep fixes the Cauchy-Schwarz score bound T = beta max||Q_i|| max||K_j|| "
                "exactly (the quantity the polynomial degree depends on); Gamma_T = sqrt(T / (beta d)) is the "
                "entry bound max|X W| that permits it (|S_ij| <= beta d Gamma^2), so the same fit reads "
                "Gamma_T*^2 = a/d + (b/d) ln L: the theory's Gamma* ~ sqrt(log L) with an intercept. (A Gamma "
                "axis works too, but for fixed max|X W| the score bound varies from instance to instance by "
                "a factor of ~2, which blurs the boundary.)")
             + (" White circles: the crossings the cost model predicts (the same grid with every time replaced "
                "by its prediction; see \"Predicted boundary\")." if predicts else "")
             + (" Grey squares: the crossings of the earlier run given with --previous "
                f"(`{previous[0]['config'].get('name', '?')}`, {previous[0].get('machine', {}).get('cpu', '?')}): "
                "the difference is how much of the old boundary was implementation." if previous else ""), ""]
    table = ["| d | mode | dtype | boundary fit | crossings (L: norm, how) |"
             + (" earlier run's crossings |" if previous else ""), "|---|---|---|---|---|" + ("---|" if previous else "")]
    for d in sorted({p["d"] for p in points}):
        for mode in sorted({p["mode"] for p in points}, reverse=True):
            for dtype in sorted({p["dtype"] for p in points}):
                grid = phase.speedup_grid(points, target, d, mode, dtype)
                if not grid:
                    continue
                crossings, fit = phase.boundary(grid, squared)
                overlays = []
                if predicts:
                    predicted = phase.speedup_grid(points, target, d, mode, dtype,
                                                   lambda p: cost_model.point_prediction(p, header))
                    overlays.append((phase.boundary(predicted, squared)[0], "predicted crossing (cost model)", "wo"))
                earlier = None
                if previous:
                    old_grid = phase.speedup_grid(previous[1], target, d, mode, dtype)
                    earlier = phase.boundary(old_grid, squared)[0] if old_grid else []
                    overlays.append((earlier, "earlier run's crossing", "s"))
                name = f"phase_d{d}_{mode}_{dtype}.png"
                figures.phase_diagram(grid, crossings, fit, axis, squared,
                                      f"d={d}, {mode}, {dtype}\n{phase.fit_text(fit, axis, d)}",
                                      os.path.join(out, name), overlays)
                lines += [f"![phase diagram d={d} {mode} {dtype}]({name})", ""]
                cross = "; ".join(f"{L}: {n:.3g} ({how})" for L, n, how in crossings) or "none bracketed"
                row = f"| {d} | {mode} | {dtype} | {phase.fit_text(fit, axis, d)} | {cross} |"
                if previous:
                    row += " " + ("; ".join(f"{L}: {n:.3g}" for L, n, _ in earlier) or "none bracketed") + " |"
                table.append(row)
    return lines + table + [""]


def section_prediction(points, header):
    """Measured against predicted crossings, per d and mode, and the cost model's
    time prediction against the measured time over every point that ran."""
    dtypes = sorted({p["dtype"] for p in points if cost_model.calibration(header, p["dtype"])})
    if not dtypes:
        return []
    cfg = header["config"]
    target, squared = cfg.get("target_error", 1e-3), "gamma" in cfg
    calibrated = bool(header.get("machine", {}).get("algorithm_calibration"))
    lines = ["## Predicted boundary", "",
             "The cost model (docs/cost-model.md) predicts each point's time from the counts the algorithm "
             "declares (flops, exponentials, bytes beyond L2; the polynomial's at the degree it ran) and the rates "
             "calibrated at the start of the sweep. The *limit* is max(flops / rate + exps / exp rate, bytes / "
             "bandwidth): what a code at the calibrated rates, without overheads, would take. "
             + ("The *calibrated* prediction (the phase diagrams' white circles) is limit / efficiency + per-call + "
                "per-row overheads, the three constants measured per algorithm, d, r and mode by timing it on three "
                "calibration shapes before the sweep (not on the sweep's points). " if calibrated else "")
             + "A predicted crossing is found on the same grid with every time replaced by its prediction; "
             "which approximate variants met the target error stays measured.", "", "Machine rates: "
             + "; ".join(f"{dt}: " + ", ".join(f"{k} {v:.3g}" for k, v in sorted(cost_model.calibration(header, dt).items()))
                         for dt in dtypes), "",
             "| d | mode | dtype | L: measured T* / predicted T* (difference) | max abs difference | limit's T* |",
             "|---|---|---|---|---|---|"]
    for d in sorted({p["d"] for p in points}):
        for mode in sorted({p["mode"] for p in points}, reverse=True):
            for dtype in dtypes:
                grid = phase.speedup_grid(points, target, d, mode, dtype)
                if not grid:
                    continue
                measured = phase.boundary(grid, squared)[0]
                predicted, limit = (phase.boundary(phase.speedup_grid(
                    points, target, d, mode, dtype,
                    lambda p, lo=lo: cost_model.point_prediction(p, header, limit_only=lo)), squared)[0]
                    for lo in (False, True))
                rows, worst = phase.crossing_agreement(measured, predicted)
                cells = "; ".join(f"{L}: {m:.3g} / {q:.3g} ({r:+.0%})" for L, m, q, r in rows) or "no common crossing"
                limits = "; ".join(f"{L}: {n:.3g}" for L, n, _ in limit) or "none bracketed"
                lines.append(f"| {d} | {mode} | {dtype} | {cells} | {fmt(worst, '.0%')} | {limits} |")
    ratios = defaultdict(lambda: ([], []))
    for p in points:
        t, lim = cost_model.point_prediction(p, header), cost_model.point_prediction(p, header, limit_only=True)
        if t is not None and lim is not None and p.get("median_s"):
            ratios[(p["name"], p["d"])][0].append(t / p["median_s"])
            ratios[(p["name"], p["d"])][1].append(lim / p["median_s"])
    lines += ["", "Predicted / measured time over every point that ran: median (min - max). The limit's ratio is "
              "the code's efficiency against the calibrated rates.", "",
              "| algorithm | d | points | predicted / measured | limit / measured |", "|---|---|---|---|---|"]
    for (name, d), (rs, ls) in sorted(ratios.items()):
        lines.append(f"| {name} | {d} | {len(rs)} | {statistics.median(rs):.2f} ({min(rs):.2f} - {max(rs):.2f}) | "
                     f"{statistics.median(ls):.2f} ({min(ls):.2f} - {max(ls):.2f}) |")
    return lines + [""]


def section_errors(points, out):
    lines = ["## Error vs rank and vs norm", "",
             "max_rel = max over adapter gradients of ||G~ - G||_max / ||G||_max against the float64 reference.", ""]
    for dtype in sorted({p["dtype"] for p in points}):
        name = f"errors_{dtype}.png"
        figures.error_plots(points, dtype, os.path.join(out, name))
        lines += [f"![errors {dtype}]({name})", ""]
    return lines


def section_variants(points, out):
    """Pareto frontier of (time, error) at the largest L that has error metrics, per norm."""
    with_err = [p for p in points
                if p.get("status") == "ok" and (p.get("error") or is_exact(p)) and not is_selector(p)]
    if not with_err:
        return []
    lines = ["## Variant comparison", "",
             "At the largest L with a reference, for each instance: every variant's median time and error; "
             "`*` marks the Pareto frontier (no other variant is both faster and more accurate). Exact "
             "variants are drawn at their measured error against float64.", ""]
    groups = defaultdict(list)
    for p in with_err:
        groups[(p["mode"], p["dtype"], p["d"], p["norm"])].append(p)
    for (mode, dtype, d, norm), ps in sorted(groups.items()):
        L = max(p["L"] for p in ps if p.get("error"))
        rows = [(p["algorithm"], p["median_s"], p["error"]["max_rel"]) for p in ps if p["L"] == L and p.get("error")]
        if len(rows) < 2:
            continue
        front = set(pareto_front([(t, e) for _, t, e in rows]))
        lines += [f"### {mode}, {dtype}, d={d}, {points[0]['norm_axis']}={norm:g}, L={L}", "",
                  "| variant | median s | max_rel error | frontier |", "|---|---|---|---|"]
        lines += [f"| {a} | {t:.4g} | {e:.3g} | {'*' if i in front else ''} |" for i, (a, t, e) in enumerate(rows)]
        name = f"pareto_{mode}_{dtype}_d{d}_n{norm:g}.png"
        figures.pareto_plot(rows, f"{mode} {dtype} d={d} norm={norm:g} L={L}", os.path.join(out, name))
        lines += ["", f"![pareto]({name})", ""]
    return lines


def section_torch(paths):
    lines = ["## Against PyTorch autograd (CPU)", ""]
    for path in paths:
        with open(path) as f:
            runs = json.load(f)
        for run in runs if isinstance(runs, list) else [runs]:
            inst, torch = run["instance"], run["torch"]
            lines += [f"Instance L={inst['L']}, d={inst['d']}, r={inst['r']}, {inst['mode']}, {inst['dtype']}, "
                      f"target score bound T={inst.get('T') or '-'} (gamma {inst.get('gamma')}); threads: torch {run['threads']['torch']}, "
                      f"lorafgc OpenMP {run['threads']['omp_threads']}; torch {torch['version']} median "
                      f"{torch['median_s']:.4g} s.", "",
                      "| algorithm | median s | torch / this | max_rel vs torch |", "|---|---|---|---|"]
            for a in run["algorithms"]:
                if a.get("status", "ok") == "ok":
                    lines.append(f"| {a['spec']} | {a['median_s']:.4g} | {a['speedup_vs_torch']:.2f} | "
                                 f"{a['max_rel_vs_torch']:.2g} |")
                else:
                    lines.append(f"| {a['spec']} | refused | - | {a['message'][:90]} |")
            lines.append("")
    return lines


def section_gbench(paths):
    """Every run of every file, its time in ms (the unit bench_exact and bench_poly
    report in; the unit column stays so that the table reads as before)."""
    lines = ["## Google Benchmark runs", ""]
    for path in paths:
        bench = gbench.load(path)
        lines += [gbench.context_line(bench), "",
                  "| benchmark | real time | unit | GFLOP/s performed | other counters |", "|---|---|---|---|---|"]
        for run in bench.runs:
            c = run.counters
            extra = ", ".join(f"{k}={c[k]:.4g}" for k in ("degree", "rank", "T", "err_max_rel", "peak_MiB") if k in c)
            lines.append(f"| {run.name} | {run.real_time_ms:.4g} | ms | {fmt(c.get('GFLOPs_performed'), '.1f')} | "
                         f"{extra} |")
        lines.append("")
    return lines


def compare(path_a, path_b):
    """Prints, per completed point both files hold, the two times, B/A and the two
    errors; then the geometric mean of B/A per algorithm."""
    ha, a = load_results(path_a)
    hb, b = load_results(path_b)
    if ha["config_hash"] != hb["config_hash"]:
        print(f"note: different configs ({ha['config_hash']} vs {hb['config_hash']}); comparing common points")
    ia = {point_key(p): p for p in a if p.get("status") == "ok"}
    ib = {point_key(p): p for p in b if p.get("status") == "ok"}
    common = sorted(set(ia) & set(ib))
    if not common:
        raise ResultsError("compare: the two files share no completed point")
    ratios = defaultdict(list)
    print(f"{'point':<70}{'A s':>10}{'B s':>10}{'B/A':>8}{'err A':>10}{'err B':>10}")
    for k in common:
        pa, pb = ia[k], ib[k]
        r = pb["median_s"] / pa["median_s"]
        ratios[k[0]].append(r)
        ea = pa["error"]["max_rel"] if pa.get("error") else float("nan")
        eb = pb["error"]["max_rel"] if pb.get("error") else float("nan")
        label = f"{k[0]} {k[1]} {k[2]} L={k[3]} d={k[4]} {k[6]}={k[7]:g}"
        print(f"{label:<70}{pa['median_s']:>10.4g}{pb['median_s']:>10.4g}{r:>8.3f}{ea:>10.2g}{eb:>10.2g}")
    print("\ngeometric mean of time B/A per algorithm:")
    for alg, rs in sorted(ratios.items()):
        print(f"  {alg}: {math.exp(statistics.fmean(math.log(r) for r in rs)):.3f} over {len(rs)} points")
