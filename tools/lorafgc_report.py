#!/usr/bin/python3
"""lorafgc-report: turn sweep results into a report folder (Markdown + PNG), or
compare two result files.

    /usr/bin/python3 tools/lorafgc_report.py report RESULTS.jsonl --out DIR
        [--torch torch.json ...] [--gbench bench.json ...] [--force]
    /usr/bin/python3 tools/lorafgc_report.py compare A.jsonl B.jsonl
    /usr/bin/python3 tools/lorafgc_report.py looped RESULTS.json --out DIR
        [--gbench bench_looped.json ...] [--force]
    /usr/bin/python3 tools/lorafgc_report.py icl RESULTS.json --out DIR
        [--gbench bench_icl.json ...] [--force]
"""
import argparse
import json
import math
import os
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from report import figures, icl, looped, phase  # noqa: E402
from report.fits import pareto_front  # noqa: E402
from report.results import ResultsError, is_exact, load_results, point_key  # noqa: E402


def fmt(v, spec=".3g"):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def section_header(header, points):
    cfg, m = header["config"], header.get("machine", {})
    status = defaultdict(int)
    for p in points:
        status[p.get("status", "?")] += 1
    lines = [f"# lorafgc report: {cfg.get('name', 'sweep')}", "",
             f"Config hash `{header['config_hash']}`; {len(points)} points "
             f"({', '.join(f'{k}: {v}' for k, v in sorted(status.items()))}).", "",
             "## Machine and build", "",
             f"- CPU: {m.get('cpu', '?')}, {m.get('hardware_threads', '?')} hardware threads, "
             f"{fmt(m.get('physical_memory_bytes', float('nan')) / 2**30, '.1f')} GiB",
             f"- BLAS: {m.get('blas_config', '?')}; threads: OpenMP {m.get('omp_threads', '?')}, "
             f"BLAS {m.get('blas_threads', '?')}; OPENBLAS_CORETYPE={m.get('OPENBLAS_CORETYPE', '?')}",
             f"- build: {m.get('build', '?')}", "",
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


def section_phase(points, header, out):
    cfg = header["config"]
    axis = "gamma" if "gamma" in cfg else "T"
    squared = axis == "gamma"
    target = cfg.get("target_error", 1e-3)
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
                "a factor of ~2, which blurs the boundary.)"), ""]
    table = ["| d | mode | dtype | boundary fit | crossings (L: norm, how) |", "|---|---|---|---|---|"]
    for d in sorted({p["d"] for p in points}):
        for mode in sorted({p["mode"] for p in points}, reverse=True):
            for dtype in sorted({p["dtype"] for p in points}):
                grid = phase.speedup_grid(points, target, d, mode, dtype)
                if not grid:
                    continue
                crossings, fit = phase.boundary(grid, squared)
                name = f"phase_d{d}_{mode}_{dtype}.png"
                figures.phase_diagram(grid, crossings, fit, axis, squared,
                                      f"d={d}, {mode}, {dtype}\n{phase.fit_text(fit, axis, d)}",
                                      os.path.join(out, name))
                lines += [f"![phase diagram d={d} {mode} {dtype}]({name})", ""]
                cross = "; ".join(f"{L}: {n:.3g} ({how})" for L, n, how in crossings) or "none bracketed"
                table.append(f"| {d} | {mode} | {dtype} | {phase.fit_text(fit, axis, d)} | {cross} |")
    return lines + table + [""]


def section_errors(points, out):
    lines = ["## Error vs degree and vs norm", "",
             "max_rel = max over adapter gradients of ||G~ - G||_max / ||G||_max against the float64 reference.", ""]
    for dtype in sorted({p["dtype"] for p in points}):
        name = f"errors_{dtype}.png"
        figures.error_plots(points, dtype, os.path.join(out, name))
        lines += [f"![errors {dtype}]({name})", ""]
    return lines


def section_variants(points, out):
    """Pareto frontier of (time, error) at the largest L that has error metrics, per norm."""
    with_err = [p for p in points if p.get("status") == "ok" and (p.get("error") or is_exact(p))]
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
    lines = ["## Google Benchmark runs", ""]
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        ctx = data.get("context", {})
        lines += [f"`{os.path.basename(path)}`: {ctx.get('blas_config', '')}, omp {ctx.get('omp_threads', '?')}, "
                  f"blas {ctx.get('blas_threads', '?')} threads, {ctx.get('date', '')}", "",
                  "| benchmark | real time | unit | GFLOP/s performed | other counters |", "|---|---|---|---|---|"]
        for b in data.get("benchmarks", []):
            extra = ", ".join(f"{k}={b[k]:.4g}" for k in ("degree", "rank", "T", "err_max_rel", "peak_MiB") if k in b)
            lines.append(f"| {b['name']} | {b['real_time']:.4g} | {b.get('time_unit', '')} | "
                         f"{fmt(b.get('GFLOPs_performed'), '.1f')} | {extra} |")
        lines.append("")
    return lines


def prepare_out(args):
    """Refuses to replace an existing report unless --force; creates the folder."""
    if os.path.exists(os.path.join(args.out, "report.md")) and not args.force:
        raise ResultsError(f"--out: {args.out} already holds a report; pass --force to replace it")
    os.makedirs(args.out, exist_ok=True)


def write_report(args, lines):
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"lorafgc-report: wrote {os.path.join(args.out, 'report.md')}")
    return 0


def cmd_report(args):
    header, points = load_results(args.results)
    prepare_out(args)
    lines = section_header(header, points)
    if points:
        lines += section_scaling(points, args.out)
        lines += section_phase(points, header, args.out)
        lines += section_errors(points, args.out)
        lines += section_variants(points, args.out)
    if args.torch:
        lines += section_torch(args.torch)
    if args.gbench:
        lines += section_gbench(args.gbench)
    return write_report(args, lines)


def cmd_compare(args):
    ha, a = load_results(args.a)
    hb, b = load_results(args.b)
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
    return 0


def cmd_looped(args):
    data = looped.load(args.results)
    prepare_out(args)
    lines = looped.sections(data, args.out)
    if args.gbench:
        lines += looped.gbench_section(args.gbench, args.out)
    return write_report(args, lines)


def cmd_icl(args):
    data = icl.load(args.results)
    prepare_out(args)
    lines = icl.sections(data, args.out)
    if args.gbench:
        lines += icl.gbench_section(args.gbench, args.out)
    return write_report(args, lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="lorafgc reports from sweep results")
    sub = ap.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="write a report folder (report.md + PNG figures)")
    rep.add_argument("results", help="results file written by lorafgc-sweep")
    rep.add_argument("--out", required=True, help="report folder")
    rep.add_argument("--torch", nargs="*", default=[], help="JSON written by benchmarks/torch_compare.py")
    rep.add_argument("--gbench", nargs="*", default=[], help="Google Benchmark JSON outputs")
    rep.add_argument("--force", action="store_true", help="replace an existing report in --out")
    cmp_ = sub.add_parser("compare", help="compare two results files point by point")
    cmp_.add_argument("a")
    cmp_.add_argument("b")
    loop = sub.add_parser("looped", help="report on tools/looped_experiments.py results (Markdown + PNG)")
    loop.add_argument("results", help="results JSON written by tools/looped_experiments.py")
    loop.add_argument("--out", required=True, help="report folder")
    loop.add_argument("--gbench", nargs="*", default=[], help="bench_looped JSON outputs")
    loop.add_argument("--force", action="store_true", help="replace an existing report in --out")
    icl_ = sub.add_parser("icl", help="report on tools/icl_experiments.py results (Markdown + PNG)")
    icl_.add_argument("results", help="results JSON written by tools/icl_experiments.py")
    icl_.add_argument("--out", required=True, help="report folder")
    icl_.add_argument("--gbench", nargs="*", default=[], help="bench_icl JSON outputs")
    icl_.add_argument("--force", action="store_true", help="replace an existing report in --out")
    args = ap.parse_args(argv)
    commands = {"report": cmd_report, "compare": cmd_compare, "looped": cmd_looped, "icl": cmd_icl}
    try:
        return commands[args.command](args)
    except (ResultsError, looped.LoopedResultsError, icl.IclResultsError, OSError, KeyError, json.JSONDecodeError) as e:
        print(f"lorafgc-report: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
