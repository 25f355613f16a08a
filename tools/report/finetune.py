"""Report sections and figures for the fine-tuning experiment
(tools/finetune_experiments.py, docs/finetune.md): loss against step and wall
time with seed bands, final validation loss per run, time per step split into
attention forward, backward and the rest, and the score ranges training met,
drawn on the phase diagram of the same head width."""
import math
import os
from collections import defaultdict

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import figures, phase  # noqa: E402
from .common import fmt, load_json, save_figure  # noqa: E402
from .results import load_results  # noqa: E402


class FinetuneResultsError(ValueError):
    pass


def load(path):
    return load_json(path, ("config", "runs", "pretrain"), FinetuneResultsError, "fine-tuning")


def _by_run(data):
    """{run name: [records of its seeds]} in the config's order."""
    runs = defaultdict(list)
    for r in data["runs"]:
        runs[r["run"]].append(r)
    return {r["name"]: runs[r["name"]] for r in data["config"]["runs"] if r["name"] in runs}


def _band(ax, records, x_key, y_key, label, color):
    """Mean over seeds with a min-max band; records cut to the shortest (a failed run ends early)."""
    n = min(len(r[y_key]) for r in records)
    if n == 0:
        return
    x = np.mean([r[x_key][:n] for r in records], axis=0)
    y = np.array([r[y_key][:n] for r in records])
    ax.plot(x, y.mean(axis=0), color=color, label=label)
    ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=color, alpha=0.2)


def _cumulative(records):
    return [dict(r, wall=list(np.cumsum(r["seconds"]))) for r in records]


def figure_losses(data, path):
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, records) in enumerate(_by_run(data).items()):
        c = colors[i % len(colors)]
        _band(axes[0][0], records, "step", "train_loss", name, c)
        _band(axes[0][1], _cumulative(records), "wall", "train_loss", name, c)
        _band(axes[1][0], records, "eval_step", "validation_loss", name, c)
        _band(axes[1][1], records, "eval_seconds", "validation_loss", name, c)
    for ax, (x, y) in zip(axes.flat, [("step", "training loss"), ("wall seconds", "training loss"),
                                      ("step", "validation loss"), ("wall seconds", "validation loss")]):
        ax.set_xlabel(x)
        ax.set_ylabel(f"{y} (nats per byte)")
        if x.startswith("wall"):
            ax.set_xscale("symlog", linthresh=1)
        ax.legend(fontsize=7)
    fig.suptitle("LoRA fine-tuning: mean over seeds, band = min..max", fontsize=10)
    save_figure(fig, path)


def _per_step(records, key):
    """Median over the seeds' steps after the first (the first pays one-off costs)."""
    values = [v for r in records for v in r[key][1:]]
    return float(np.median(values)) if values else math.nan


def _paired_gap(records, reference):
    """Per seed present in both, final validation loss relative to the reference
    run's with the same seed (the same adapters' start and batches): mean, max |.|."""
    ref = {r["seed"]: r["validation_loss"][-1] for r in reference if "failed" not in r}
    gaps = [r["validation_loss"][-1] / ref[r["seed"]] - 1 for r in records if "failed" not in r and r["seed"] in ref]
    return (float(np.mean(gaps)), float(np.max(np.abs(gaps)))) if gaps else (None, None)


def _failures(records):
    """'-', or how many seeds failed, at which steps, and the first one's message."""
    failed = [r for r in records if "failed" in r]
    if not failed:
        return "-"
    steps = sorted({r["failed"]["step"] for r in failed})
    return (f"{len(failed)} of {len(records)} seeds, at step {', '.join(map(str, steps))}; seed {failed[0]['seed']}: "
            + failed[0]["failed"]["message"][:240].replace("|", "/"))


def loss_table(data):
    runs = _by_run(data)
    lines = ["| run | forward | backward | seeds | final validation loss (mean +- sd) | vs exact, paired by seed: "
             "mean (max abs) | failed |", "|---|---|---|---|---|---|---|"]
    specs = {r["name"]: r for r in data["config"]["runs"]}
    for name, records in runs.items():
        finals = [r["validation_loss"][-1] for r in records if "failed" not in r]
        failed = _failures(records)
        mean = float(np.mean(finals)) if finals else None
        sd = float(np.std(finals, ddof=1)) if len(finals) > 1 else None
        gap, worst = _paired_gap(records, runs["exact"]) if "exact" in runs else (None, None)
        gap_text = f"{100 * gap:+.3g}% ({100 * worst:.3g}%)" if gap is not None else "-"
        spec = specs[name]
        lines.append(f"| {name} | `{spec['forward']}` | `{spec.get('backward', spec['forward'])}` | {len(records)} | "
                     f"{fmt(mean, '.4f')} +- {fmt(sd, '.4f')} | {gap_text} | {failed} |")
    return lines


def time_table(data):
    runs = _by_run(data)
    rows = {name: {k: _per_step(recs, k) for k in ("seconds", "attention_forward", "attention_backward")}
            for name, recs in runs.items()}
    lines = ["| run | step (s) | attention forward (s) | attention backward (s) | rest (s) | "
             "backward speedup over exact | over torch | step speedup over exact | over torch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, t in rows.items():
        rest = t["seconds"] - t["attention_forward"] - t["attention_backward"]
        ratios = [rows[ref][key] / t[key] if ref in rows and t[key] > 0 else None
                  for key in ("attention_backward",) for ref in ("exact", "torch")]
        ratios += [rows[ref]["seconds"] / t["seconds"] if ref in rows else None for ref in ("exact", "torch")]
        lines.append(f"| {name} | {fmt(t['seconds'], '.3f')} | {fmt(t['attention_forward'], '.3f')} | "
                     f"{fmt(t['attention_backward'], '.3f')} | {fmt(rest, '.3f')} | "
                     + " | ".join(fmt(r, '.3g') for r in ratios) + " |")
    return lines


def _range_series(records, key):
    """[evaluation][layer][head] of one range key, from the first seed's record."""
    return [[layer[key] for layer in point] for point in records[0]["ranges"]]


def figure_ranges(data, path):
    """The score bound each layer's heads met along fine-tuning (the exact run)."""
    runs = _by_run(data)
    records = runs.get("exact") or next(iter(runs.values()))
    steps = records[0]["eval_step"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, key in zip(axes, ("T_cauchy_schwarz", "T_centred", "max_abs_centred_score")):
        series = np.array(_range_series(records, key))  # evaluations x layers x heads
        for layer in range(series.shape[1]):
            for head in range(series.shape[2]):
                ax.plot(steps, series[:, layer, head], color=f"C{layer}", lw=1,
                        label=f"layer {layer}" if head == 0 else None)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("fine-tuning step")
    axes[0].set_ylabel("score range (per head)")
    axes[0].legend(fontsize=7)
    save_figure(fig, path)


def training_ranges(data):
    """Per layer and head at the end of fine-tuning, (context, T): T the smaller of
    the Cauchy-Schwarz and the centred bound (where the polynomial's certified
    range starts; it narrows it) and the largest |q_i . (k_j - c)| / sqrt(d)
    met with c the keys' mean (what a range centred there must hold); and the
    largest of each."""
    runs = _by_run(data)
    records = runs.get("exact") or next(iter(runs.values()))
    context = data["config"]["model"]["context"]
    last = records[0]["ranges"][-1]
    upper = [(context, min(a, b)) for layer in last for a, b in zip(layer["T_cauchy_schwarz"], layer["T_centred"])]
    met = [(context, t) for layer in last for t in layer["max_abs_centred_score"]]
    return upper, met, max(t for _, t in upper), max(t for _, t in met)


def phase_section(data, phase_results, out):
    """The training's score ranges over the sweep's phase diagram for d = head_dim
    (full mode: every projection's gradient, float32)."""
    m = data["config"]["model"]
    d = m["width"] // m["heads"]
    header, points = load_results(phase_results)
    target = (header or {}).get("config", {}).get("target_error", 1e-3)
    grid = phase.speedup_grid(points, target, d, "full", "float32")
    if not grid:
        return [f"(no d = {d}, full, float32 points in {phase_results}: no phase diagram)", ""]
    crossings, fit = phase.boundary(grid, False)
    upper, met, largest, largest_met = training_ranges(data)
    figures.phase_diagram(grid, crossings, fit, "T", False,
                          f"d = {d}, full, float32 ({os.path.basename(phase_results)}), with the fine-tuned "
                          f"model's heads", os.path.join(out, "finetune_phase.png"),
                          overlays=[(upper, "heads at the end: score bound", "m*"),
                                    (met, "heads at the end: largest centred |score| met", "c.")])
    return ["## Where training sits on the phase diagram", "",
            f"![phase](finetune_phase.png)", "",
            f"Magenta stars: every head's score bound at the end of fine-tuning (the smaller of the "
            f"Cauchy-Schwarz and the centred bound: the polynomial's certified range starts there and "
            f"narrows it), cyan dots the largest centred |score| each head met, |q_i . (k_j - c)| / sqrt(d) "
            f"with c the keys' mean (a range centred there can be no narrower; an uncentred one must hold "
            f"the largest |score|, itself at most the Cauchy-Schwarz bound), at the "
            f"context L = {m['context']} (largest {largest:.3g} and {largest_met:.3g}); the background is the LoRA-gradient sweep in "
            f"`{phase_results}` for d = {d} (full mode, float32; {phase.fit_text(fit, 'T')}). A head below the "
            f"boundary is one where the polynomial method beats exact at that L.", ""]


def sections(data, out, phase_results=None):
    figure_losses(data, os.path.join(out, "finetune_losses.png"))
    figure_ranges(data, os.path.join(out, "finetune_ranges.png"))
    cfg, m = data["config"], data["config"]["model"]
    machine = data.get("machine", {})
    pre = data["pretrain"]
    lines = ["# LoRA fine-tuning with approximate attention gradients", "",
             f"Config `{cfg.get('name', '?')}`: {m['layers']} layers, {m['heads']} heads of width "
             f"{m['width'] // m['heads']}, context {m['context']}, score temperature "
             f"{m.get('score_temperature')} (null: unbounded scores); pre-trained {cfg['pretrain']['steps']} steps on "
             f"`{cfg['pretrain']['corpus']}` (validation loss {pre['validation_loss']:.4f}, {pre['seconds']:.0f} s), "
             f"fine-tuned {cfg['finetune']['steps']} steps on `{cfg['finetune']['corpus']}` with rank "
             f"{cfg['finetune']['rank']} q and v adapters, seeds {cfg['finetune']['seeds']}. Machine: "
             f"{machine.get('cpu', '?')} ({machine.get('vector_isa', '?')}), {data.get('torch_threads', '?')} torch "
             f"threads, torch {data.get('torch_version', '?')}; whole run {data.get('seconds', math.nan):.0f} s.", "",
             "## Loss", "", "![losses](finetune_losses.png)", "",
             "Validation loss is always computed with exact attention (the same measure for every run).", ""]
    lines += loss_table(data) + ["", "## Time per step", "",
                                 "Medians over every seed's steps after the first; attention timed around its "
                                 "calls (all layers), the rest is embedding, MLPs, loss and optimiser.", ""]
    lines += time_table(data) + ["", "## Score ranges met in training", "", "![ranges](finetune_ranges.png)", ""]
    if phase_results:
        lines += phase_section(data, phase_results, out)
    return lines
