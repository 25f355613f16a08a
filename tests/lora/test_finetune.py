"""The fine-tuning experiment (issue 16, docs/finetune.md): the corpora's split,
the model's lorafgc attention against PyTorch's on the same weights, the score
bound QK-norm promises, and the driver and report end to end on a tiny config
(a refused run recorded, not fatal; no results file overwritten)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
DRIVER = os.path.join(ROOT, "tools", "finetune_experiments.py")
REPORT = os.path.join(ROOT, "tools", "lorafgc_report.py")
SMOKE = os.path.join(ROOT, "reports", "configs", "finetune_smoke.json")

from finetune import corpus, model  # noqa: E402

# run.sh installs both; a machine without them skips rather than fails.
pytestmark = pytest.mark.skipif(
    not all(os.path.isdir(folder) for folder, _ in corpus.SOURCES.values()),
    reason="the corpora's Debian packages (fortunes, base-files) are not installed")


@pytest.mark.parametrize("name", ["fortunes", "licences"])
def test_split_is_deterministic_and_covers_every_byte(name):
    train, validation, files = corpus.load(name)
    again = corpus.load(name)
    assert np.array_equal(train, again[0]) and np.array_equal(validation, again[1])
    assert len(train) + len(validation) == sum(os.path.getsize(f) for f in files)
    assert 0.08 < len(validation) / (len(train) + len(validation)) < 0.12
    assert not any(os.path.islink(f) or f.endswith((".dat", ".u8")) for f in files)


def test_unknown_corpus_and_oversized_context_are_value_errors():
    with pytest.raises(ValueError, match="corpus"):
        corpus.load("poems")
    with pytest.raises(ValueError, match="context"):
        corpus.batch(np.zeros(10, np.uint8), 1, 64, np.random.default_rng(0))


def loss_and_gradients(net, tokens, forward, backward=None):
    net.core.forward_spec, net.core.backward_spec = forward, backward
    net.zero_grad()
    loss = net.loss(tokens)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in net.parameters() if p.grad is not None]


@pytest.mark.parametrize("temperature", [None, 1.5])
def test_lorafgc_attention_trains_the_model_as_pytorch_does(temperature):
    """The same weights and batch: lorafgc's exact attention gives PyTorch's loss
    and adapter gradients. float32, L = 96, three layers: every gradient a sum
    of O(L) products through a few layers; 1e-4 relative is ~100 u sqrt(L), far
    under a wrong mask or head split (order one)."""
    net = model.ByteTransformer(96, width=16, heads=2, layers=3, score_temperature=temperature, seed=3)
    params = net.freeze_for_lora(rank=2, alpha=4, seed=5)
    with torch.no_grad():
        for p in params:
            p.normal_(0, 0.3)  # B = 0 would leave dA = 0 and hide a wrong q/v gradient
    tokens = corpus.batch(corpus.load("licences")[0], 2, 96, np.random.default_rng(1))
    want_loss, want = loss_and_gradients(net, tokens, "torch")
    got_loss, got = loss_and_gradients(net, tokens, "exact")
    assert abs(got_loss - want_loss) <= 1e-5 * abs(want_loss)
    assert len(got) == len(want) == 4 * 3
    for g, w in zip(got, want):
        assert (g - w).abs().max() <= 1e-4 * w.abs().max()


def test_score_temperature_bounds_every_score():
    net = model.ByteTransformer(64, width=16, heads=2, layers=2, score_temperature=0.7, seed=1)
    net.core.record = True
    with torch.no_grad():
        net(torch.randint(0, 256, (1, 64)))
    assert len(net.core.ranges) == 2
    for r in net.core.ranges:
        assert max(r["T_cauchy_schwarz"]) <= 0.7 * (1 + 1e-5)
        for met, bound in (("max_abs_score", "T_cauchy_schwarz"), ("max_abs_centred_score", "T_centred")):
            assert all(0 < m <= b * (1 + 1e-5) for m, b in zip(r[met], r[bound]))


def test_driver_and_report_end_to_end(tmp_path):
    out = tmp_path / "r.json"
    run = subprocess.run([sys.executable, DRIVER, SMOKE, "--out", str(out)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert [(r["run"], r["seed"]) for r in data["runs"]] == [
        (name, seed) for name in ("torch", "exact", "poly-backward eps=1e-2", "refused") for seed in (1, 2)]
    refused = [r for r in data["runs"] if r["run"] == "refused"]
    assert all(r["failed"]["step"] == 1 and "memory budget" in r["failed"]["message"] for r in refused)
    for r in data["runs"]:
        if r["run"] != "refused":
            assert "failed" not in r and len(r["step"]) == 4 and r["eval_step"] == [0, 2, 4]
            assert all(0 < a + b < s for a, b, s in zip(r["attention_forward"], r["attention_backward"],
                                                        r["seconds"]))
    again = subprocess.run([sys.executable, DRIVER, SMOKE, "--out", str(out)], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert json.loads(out.read_text()) == data
    phase = os.path.join(ROOT, "reports", "reference-2026-12", "results.jsonl")
    rep = subprocess.run([sys.executable, REPORT, "finetune", str(out), "--out", str(tmp_path / "rep"), "--phase",
                          phase], capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr
    text = (tmp_path / "rep" / "report.md").read_text()
    for heading in ("## Loss", "## Time per step", "## Score ranges", "## Where training sits"):
        assert heading in text
    assert "memory budget" in text
    for png in ("finetune_losses.png", "finetune_ranges.png", "finetune_phase.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 1000


def with_section(section, **values):
    with open(SMOKE) as f:
        table = json.load(f)[section]
    table.update(values)
    return {section: table}


@pytest.mark.parametrize("change,words", [
    ({"model": {"context": 64, "width": 30, "heads": 4, "layers": 1}}, ["model.heads"]),
    (with_section("pretrain", steps="10"), ["pretrain.steps", "positive integer"]),
    (with_section("finetune", rank=0), ["finetune.rank"]),
    (with_section("finetune", eval_every=0), ["finetune.eval_every"]),
    (with_section("finetune", alpha=True), ["finetune.alpha"]),
    (with_section("finetune", seeds=["a"]), ["finetune.seeds[]"]),
    (with_section("finetune", corpus="poems"), ["finetune.corpus", "licences"]),
    ({"finetune": {"corpus": "licences", "steps": 2}}, ["missing finetune key(s)", "rank"]),
    ({"runs": [{"name": "a", "forward": "torch", "backward": "exact"}]}, ["runs['a'].backward", "PyTorch"]),
    ({"runs": [{"name": "a", "forward": "exact", "backward": "poly-cheb:epz=1"}]}, ["runs['a'].backward", "epz"]),
    ({"runs": [{"name": "a", "forward": "exact"}, {"name": "a", "forward": "torch"}]}, ["appears twice"]),
    ({"model": {"context": 64, "width": 16, "heads": 2, "layers": 1, "score_temperature": -1}},
     ["score_temperature"]),
])
def test_bad_config_is_refused_naming_the_key(tmp_path, change, words):
    with open(SMOKE) as f:
        cfg = json.load(f)
    cfg.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    run = subprocess.run([sys.executable, DRIVER, str(path), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and all(w in run.stderr for w in words), run.stderr
    assert not (tmp_path / "r.json").exists()


CROSSOVER = os.path.join(ROOT, "benchmarks", "lora", "finetune_crossover.py")


@pytest.mark.parametrize("args,words", [
    (["--repeat", "0"], ["--repeat", "positive int"]),
    (["--lengths", "64", "-8"], ["--lengths", "'-8'"]),
    (["--eps", "nan"], ["--eps", "positive float"]),
    ([os.path.join(ROOT, "no-such-config.json")], ["config", "no-such-config.json"]),
    ([REPORT], ["config", "not valid JSON"]),
])
def test_crossover_refuses_bad_arguments_naming_them(tmp_path, args, words):
    config = [] if args[0].startswith("/") else [SMOKE]
    out = tmp_path / "c.json"
    run = subprocess.run([sys.executable, CROSSOVER] + config + args + ["--json", str(out)],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert run.returncode == 2 and all(w in run.stderr for w in words), run.stderr
    assert "Traceback" not in run.stderr and not out.exists()
