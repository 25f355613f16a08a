"""Pre-training and LoRA fine-tuning loops of the fine-tuning experiment
(docs/finetune.md): what one step measures and what one run records."""
import time

import numpy as np
import torch

from . import corpus
from .model import ByteTransformer


def evaluate(model, windows, batch):
    """Mean validation loss (nats per byte) over the fixed windows."""
    with torch.no_grad():
        losses = [model.loss(windows[i:i + batch]).item() * len(windows[i:i + batch])
                  for i in range(0, len(windows), batch)]
    return sum(losses) / len(windows)


def build(cfg, seed):
    m = cfg["model"]
    return ByteTransformer(m["context"], width=m["width"], heads=m["heads"], layers=m["layers"],
                           score_temperature=m.get("score_temperature"), seed=seed)


def pretrain(cfg, log):
    """The model every fine-tuning run starts from: exact lorafgc attention, all
    weights trained on the pre-training corpus; returns (state_dict, record)."""
    p = cfg["pretrain"]
    model = build(cfg, cfg["seed"])
    train, validation, files = corpus.load(p["corpus"])
    gen = np.random.default_rng(cfg["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=p["learning_rate"], weight_decay=0.01)
    losses, start = [], time.perf_counter()
    for step in range(p["steps"]):
        loss = model.loss(corpus.batch(train, p["batch"], model.context, gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0:
            log(f"pretrain step {step}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f} s)")
    windows = corpus.windows(validation, model.context, p.get("eval_windows", 8))
    record = {"train_loss": losses, "validation_loss": evaluate(model, windows, p["batch"]),
              "seconds": time.perf_counter() - start, "files": len(files), "train_bytes": len(train),
              "validation_bytes": len(validation)}
    log(f"pretrain: validation loss {record['validation_loss']:.3f}")
    return model.state_dict(), record


def score_ranges(model, window):
    """Per layer, the score ranges each head met on one validation window."""
    model.core.record, model.core.ranges = True, []
    with torch.no_grad():
        model(window[:, :-1])
    model.core.record = False
    return model.core.ranges


def finetune(cfg, state, run, seed, log):
    """One fine-tuning run: q and v adapters trained on the fine-tuning corpus with
    the run's attention (forward, backward); per step the loss and the seconds
    split into attention forward, attention backward and the rest; every
    eval_every steps the validation loss and the score ranges. A refusal or a
    numerical failure ends the run, recorded with its step and message."""
    f = cfg["finetune"]
    model = build(cfg, cfg["seed"])
    model.load_state_dict(state)
    params = model.freeze_for_lora(f["rank"], f["alpha"], seed)
    model.core.forward_spec, model.core.backward_spec = run["forward"], run.get("backward")
    train, validation, _ = corpus.load(f["corpus"])
    windows = corpus.windows(validation, model.context, f["eval_windows"])
    gen = np.random.default_rng(seed)
    opt = torch.optim.AdamW(params, lr=f["learning_rate"], weight_decay=0.0)
    rec = {"run": run["name"], "seed": seed, "step": [], "train_loss": [], "seconds": [], "attention_forward": [],
           "attention_backward": [], "eval_step": [], "eval_seconds": [], "validation_loss": [], "ranges": []}
    wall = 0.0

    def checkpoint(step):
        rec["eval_step"].append(step)
        rec["eval_seconds"].append(wall)
        model.core.forward_spec, saved = "exact", model.core.forward_spec  # evaluation: the same exact loss for all
        rec["validation_loss"].append(evaluate(model, windows, f["batch"]))
        rec["ranges"].append(score_ranges(model, windows[:1]))
        model.core.forward_spec = saved

    checkpoint(0)
    step = 1
    try:
        for step in range(1, f["steps"] + 1):
            tokens = corpus.batch(train, f["batch"], model.context, gen)
            model.core.seconds = {"attention_forward": 0.0, "attention_backward": 0.0}
            start = time.perf_counter()
            loss = model.loss(tokens)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seconds = time.perf_counter() - start
            wall += seconds
            if not np.isfinite(loss.item()):
                raise FloatingPointError(f"training loss {loss.item()} at step {step}")
            for key, value in (("step", step), ("train_loss", loss.item()), ("seconds", seconds),
                               ("attention_forward", model.core.seconds["attention_forward"]),
                               ("attention_backward", model.core.seconds["attention_backward"])):
                rec[key].append(value)
            if step % f["eval_every"] == 0 or step == f["steps"]:
                checkpoint(step)
                log(f"{run['name']} seed {seed} step {step}: train {loss.item():.3f}, validation "
                    f"{rec['validation_loss'][-1]:.3f}, {seconds:.2f} s/step")
    # The library's refusals (ValueError naming the option) and numerical failures
    # (lorafgc.NumericalError, an ArithmeticError) end the run; anything else is a bug.
    except (ValueError, ArithmeticError) as e:
        rec["failed"] = {"step": step, "message": str(e)}
        log(f"{run['name']} seed {seed}: failed at step {step}: {e}")
    return rec
