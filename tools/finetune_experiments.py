#!/usr/bin/python3
"""LoRA fine-tuning with approximate attention gradients (issue 16): pre-train a
small causal byte-level transformer on Debian's `fortunes` (exact lorafgc
attention), then fine-tune its q and v adapters on the licence texts of
/usr/share/common-licenses once per run and seed, each run with its own
attention forward and backward (PyTorch autograd, lorafgc exact, the polynomial
method for the backward only, or for both), and write one JSON results file.

    /usr/bin/python3 tools/finetune_experiments.py reports/configs/finetune.json --out finetune.json

The file is written once, at the end; an existing file is never replaced.
Render it with `tools/lorafgc_report.py finetune RESULTS.json --out DIR`
(docs/finetune.md).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiment_driver  # noqa: E402
from experiment_driver import ConfigError  # noqa: E402

try:
    import lorafgc
except ImportError:  # run from a checkout: the module lives in the build tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "release", "python"))
    import lorafgc

import torch  # noqa: E402

from finetune import corpus, train  # noqa: E402

MODEL_KEYS = {"context", "width", "heads", "layers", "score_temperature"}
PRETRAIN_KEYS = {"corpus", "steps", "batch", "learning_rate", "eval_windows"}
FINETUNE_KEYS = {"corpus", "steps", "batch", "learning_rate", "rank", "alpha", "seeds", "eval_every", "eval_windows"}
CONFIG_KEYS = {"name", "comment", "model", "pretrain", "finetune", "runs", "seed"}


def _positive(table, section, key, path, kind=int):
    value = table.get(key)
    ok = (isinstance(value, int) if kind is int else isinstance(value, (int, float))) and not isinstance(value, bool)
    if not ok or not value > 0:
        raise ConfigError(f"{path}: {section}.{key} must be a positive {'integer' if kind is int else 'number'}, "
                          f"got {value!r}")


def _seed(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where} must be a non-negative integer, got {value!r}")


def load_config(path):
    cfg = experiment_driver.read_config(path, CONFIG_KEYS, required={"model", "pretrain", "finetune", "runs"},
                                        sections={"model": MODEL_KEYS, "pretrain": PRETRAIN_KEYS,
                                                  "finetune": FINETUNE_KEYS})
    m, p, f = cfg["model"], cfg["pretrain"], cfg["finetune"]
    experiment_driver.check_keys(p, PRETRAIN_KEYS, path, required={"corpus", "steps", "batch", "learning_rate"},
                                 section="pretrain")
    experiment_driver.check_keys(f, FINETUNE_KEYS, path, section="finetune",
                                 required={"corpus", "steps", "batch", "learning_rate", "rank", "alpha", "seeds"})
    p.setdefault("eval_windows", 8)
    f.setdefault("eval_every", max(1, f["steps"] // 5) if isinstance(f["steps"], int) else None)
    f.setdefault("eval_windows", 8)
    for section, table, keys in (("model", m, ("context", "width", "heads", "layers")),
                                 ("pretrain", p, ("steps", "batch", "eval_windows")),
                                 ("finetune", f, ("steps", "batch", "rank", "eval_every", "eval_windows"))):
        for key in keys:
            _positive(table, section, key, path)
    for section, table, keys in (("pretrain", p, ("learning_rate",)), ("finetune", f, ("learning_rate", "alpha"))):
        for key in keys:
            _positive(table, section, key, path, kind=float)
    for section, table in (("pretrain", p), ("finetune", f)):
        if table["corpus"] not in corpus.SOURCES:
            raise ConfigError(f"{path}: {section}.corpus must be one of {sorted(corpus.SOURCES)}, "
                              f"got {table['corpus']!r}")
    if m["width"] % m["heads"]:
        raise ConfigError(f"{path}: model.heads ({m['heads']}) must divide model.width ({m['width']})")
    tau = m.get("score_temperature")
    if tau is not None and (isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau > 0):
        raise ConfigError(f"{path}: model.score_temperature must be null or a positive number, got {tau!r}")
    if not isinstance(f["seeds"], list) or not f["seeds"]:
        raise ConfigError(f"{path}: finetune.seeds must be a non-empty list of integers, got {f['seeds']!r}")
    for seed in f["seeds"]:
        _seed(seed, f"{path}: finetune.seeds[]")
    cfg.setdefault("seed", 1)
    _seed(cfg["seed"], f"{path}: seed")
    if not isinstance(cfg["runs"], list) or not cfg["runs"]:
        raise ConfigError(f"{path}: runs must be a non-empty list")
    names = set()
    for r in cfg["runs"]:
        experiment_driver.check_keys(r, {"name", "forward", "backward"}, path, required={"name", "forward"},
                                     section="runs[]")
        where = f"{path}: runs[{r['name']!r}]"
        check_spec(r["forward"], f"{where}.forward")
        if "backward" in r:
            if r["forward"] == "torch" or r["backward"] == "torch":
                raise ConfigError(f"{where}.backward: PyTorch's attention is a forward with its own autograd "
                                  "backward; give it as forward alone, without a backward")
            check_spec(r["backward"], f"{where}.backward")
        if r["name"] in names:
            raise ConfigError(f"{path}: runs: the name {r['name']!r} appears twice")
        names.add(r["name"])
    return cfg


def check_spec(spec, where):
    """`torch`, or a registry spec that parses (its options known)."""
    if not isinstance(spec, str):
        raise ConfigError(f"{where}: expected an algorithm spec string, got {spec!r}")
    if spec == "torch":
        return
    try:
        lorafgc.lora.check_spec(spec)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}")


_threads = [0]  # --threads, 0: every core this process may run on


def run(cfg, log=print):
    # Importing torch leaves OpenMP (shared with lorafgc) at torch's default, the
    # physical cores it counts (1 on these 2-vCPU machines): both on the same count.
    threads = _threads[0] or len(os.sched_getaffinity(0))
    lorafgc.set_num_threads(threads)
    torch.set_num_threads(threads)
    out = {"config": cfg, "machine": lorafgc.system_info(), "torch_threads": torch.get_num_threads(),
           "torch_version": torch.__version__, "runs": []}
    state, out["pretrain"] = train.pretrain(cfg, log)
    for r in cfg["runs"]:
        for seed in cfg["finetune"]["seeds"]:
            out["runs"].append(train.finetune(cfg, state, r, seed, log))
    return out


def set_threads(n):
    _threads[0] = n


def main(argv=None):
    return experiment_driver.main(argv, prog="finetune_experiments", doc=__doc__, load_config=load_config, run=run,
                                  set_threads=set_threads,
                                  threads_help="PyTorch and lorafgc threads (0: every core this process may use)")


if __name__ == "__main__":
    sys.exit(main())
