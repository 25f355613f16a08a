#!/usr/bin/python3
"""lorafgc-report: turn sweep results into a report folder (Markdown + PNG), or
compare two result files.

    /usr/bin/python3 tools/lorafgc_report.py report RESULTS.jsonl --out DIR
        [--torch torch.json ...] [--gbench bench.json ...] [--force]
    /usr/bin/python3 tools/lorafgc_report.py compare A.jsonl B.jsonl
    /usr/bin/python3 tools/lorafgc_report.py looped RESULTS.json --out DIR
        [--gbench bench_looped.json ...] [--force]
    /usr/bin/python3 tools/lorafgc_report.py looped-theorem RESULTS.json --out DIR [--force]
    /usr/bin/python3 tools/lorafgc_report.py icl RESULTS.json --out DIR
        [--gbench bench_icl.json ...] [--force]

This file is the command line only; the reports are written by report.lora,
report.looped and report.icl.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import command_line  # noqa: E402
from report import finetune, gbench, icl, looped, looped_theorem, lora  # noqa: E402
from report.results import ResultsError  # noqa: E402


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
    results = lora.load(args.results)
    previous = lora.load(args.previous) if args.previous else None
    prepare_out(args)
    return write_report(args, lora.sections(results, args.out, args.torch, args.gbench, previous))


def cmd_compare(args):
    lora.compare(args.a, args.b)
    return 0


def cmd_looped(args):
    data = looped.load(args.results)
    prepare_out(args)
    return write_report(args, looped.sections(data, args.out, args.gbench))


def cmd_looped_theorem(args):
    data = looped_theorem.load(args.results)
    prepare_out(args)
    return write_report(args, looped_theorem.sections(data, args.out))


def cmd_icl(args):
    data = icl.load(args.results)
    prepare_out(args)
    return write_report(args, icl.sections(data, args.out, args.gbench))


def cmd_finetune(args):
    data = finetune.load(args.results)
    prepare_out(args)
    return write_report(args, finetune.sections(data, args.out, args.phase))


def main(argv=None):
    ap = argparse.ArgumentParser(description="lorafgc reports from sweep results")
    sub = ap.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="write a report folder (report.md + PNG figures)")
    rep.add_argument("results", help="results file written by lorafgc-sweep")
    rep.add_argument("--out", required=True, help="report folder")
    rep.add_argument("--torch", nargs="*", default=[], help="JSON written by benchmarks/torch_compare.py")
    rep.add_argument("--gbench", nargs="*", default=[], help="Google Benchmark JSON outputs")
    rep.add_argument("--previous", help="an earlier results file: its boundary is drawn in the phase diagrams")
    rep.add_argument("--force", action="store_true", help="replace an existing report in --out")
    cmp_ = sub.add_parser("compare", help="compare two results files point by point")
    cmp_.add_argument("a")
    cmp_.add_argument("b")
    loop = sub.add_parser("looped", help="report on tools/looped_experiments.py results (Markdown + PNG)")
    loop.add_argument("results", help="results JSON written by tools/looped_experiments.py")
    loop.add_argument("--out", required=True, help="report folder")
    loop.add_argument("--gbench", nargs="*", default=[], help="bench_looped JSON outputs")
    loop.add_argument("--force", action="store_true", help="replace an existing report in --out")
    theorem = sub.add_parser("looped-theorem", help="report on tools/looped_theorem_experiments.py results")
    theorem.add_argument("results", help="results JSON written by tools/looped_theorem_experiments.py")
    theorem.add_argument("--out", required=True, help="report folder")
    theorem.add_argument("--force", action="store_true", help="replace an existing report in --out")
    icl_ = sub.add_parser("icl", help="report on tools/icl_experiments.py results (Markdown + PNG)")
    icl_.add_argument("results", help="results JSON written by tools/icl_experiments.py")
    icl_.add_argument("--out", required=True, help="report folder")
    icl_.add_argument("--gbench", nargs="*", default=[], help="bench_icl JSON outputs")
    icl_.add_argument("--force", action="store_true", help="replace an existing report in --out")
    tune = sub.add_parser("finetune", help="report on tools/finetune_experiments.py results (Markdown + PNG)")
    tune.add_argument("results", help="results JSON written by tools/finetune_experiments.py")
    tune.add_argument("--out", required=True, help="report folder")
    tune.add_argument("--phase", help="sweep results (e.g. reports/reference-2026-12/results.jsonl): draw the "
                      "training's score ranges on its phase diagram")
    tune.add_argument("--force", action="store_true", help="replace an existing report in --out")
    args = ap.parse_args(argv)
    commands = {"report": cmd_report, "compare": cmd_compare, "looped": cmd_looped,
                "looped-theorem": cmd_looped_theorem, "icl": cmd_icl,
                "finetune": cmd_finetune}
    try:
        return commands[args.command](args)
    except (ResultsError, looped.LoopedResultsError,
            looped_theorem.LoopedTheoremResultsError, icl.IclResultsError, finetune.FinetuneResultsError, gbench.GbenchError, OSError, KeyError,
            json.JSONDecodeError) as e:
        print(f"lorafgc-report: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(command_line.guarded("lorafgc-report", main))
