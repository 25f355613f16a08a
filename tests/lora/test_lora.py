"""The Python module: shapes, dtypes, agreement with PyTorch autograd (an
oracle independent of the C++ code), and errors as ValueError."""
import numpy as np
import pytest

import lorafgc

torch = pytest.importorskip("torch")


def torch_gradients(inst):
    """Loss and adapter gradients by PyTorch autograd, in float64."""
    t = {k: torch.tensor(np.asarray(inst[k], dtype=np.float64)) for k in ("X", "Wq", "Wk", "Wv", "Y")}
    ad = {k: tuple(torch.tensor(np.asarray(m, dtype=np.float64), requires_grad=True) for m in pair)
          for k, pair in inst["adapters"].items()}
    r = next(iter(ad.values()))[0].shape[1]
    s = inst["alpha"] / r

    def weight(key, frozen):
        return frozen + s * ad[key][0] @ ad[key][1] if key in ad else frozen

    X, Y = t["X"], t["Y"]
    Q, K, V = X @ weight("q", t["Wq"]), X @ weight("k", t["Wk"]), X @ weight("v", t["Wv"])
    F = torch.softmax(inst["beta"] * Q @ K.transpose(-1, -2), dim=-1)
    per_sequence = 0.5 * ((F @ V - Y) ** 2).sum(dim=(-1, -2))
    loss = per_sequence.mean()
    loss.backward()
    return loss.item(), {k: (b.grad.numpy(), a.grad.numpy()) for k, (b, a) in ad.items()}


def max_rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("mode", ["partial", "full"])
@pytest.mark.parametrize("batch", [None, 3])
@pytest.mark.parametrize("algorithm", ["exact", "exact-reference"])
def test_matches_torch_autograd_in_double(mode, batch, algorithm):
    inst = lorafgc.generate(48, 8, 3, 1.2, mode=mode, batch=batch, seed=4)
    got = lorafgc.lora_gradients(**inst, algorithm=algorithm)
    loss, grads = torch_gradients(inst)
    assert got["loss"] == pytest.approx(loss, rel=1e-12)
    assert set(k for k in got if k in "qkv") == set(grads)
    for key, (dB, dA) in grads.items():
        assert got[key][0].shape == dB.shape and got[key][1].shape == dA.shape
        # Same formulas, different summation order: rounding only (see test_exact.cpp).
        assert max_rel(got[key][0], dB) < 1e-12
        assert max_rel(got[key][1], dA) < 1e-12


def test_float32_in_float32_out():
    inst = lorafgc.generate(64, 16, 4, 1.0, dtype="float32", seed=2)
    assert inst["X"].dtype == np.float32
    got = lorafgc.lora_gradients(**inst)
    assert got["q"][0].dtype == np.float32 and got["v"][1].dtype == np.float32
    _, grads = torch_gradients(inst)
    assert max_rel(got["q"][0], grads["q"][0]) < 1e-4


def test_weights_option_and_info():
    inst = lorafgc.generate(32, 6, 2, 1.0, mode="full")
    got = lorafgc.lora_gradients(**inst, weights=True, block=8)
    assert set(got["weights"]) == {"q", "k", "v"}
    assert got["weights"]["k"].shape == (6, 6)
    assert got["algorithm"].startswith("exact:block=8")
    assert "block_rows" in got["info"]


def test_non_contiguous_and_fortran_arrays_are_handled():
    inst = lorafgc.generate(40, 8, 2, 1.0)
    want = lorafgc.lora_gradients(**inst)
    odd = dict(inst)
    odd["X"] = np.asfortranarray(inst["X"])
    wide = np.zeros((40, 16))
    wide[:, ::2] = inst["Y"]
    odd["Y"] = wide[:, ::2]  # strided view
    assert not odd["Y"].flags.c_contiguous
    got = lorafgc.lora_gradients(**odd)
    assert got["loss"] == want["loss"]
    np.testing.assert_array_equal(got["q"][1], want["q"][1])


def test_generate_hits_gamma():
    for mode in ("partial", "full"):
        inst = lorafgc.generate(100, 8, 2, 2.5, mode=mode, batch=2)
        for key, W in (("q", inst["Wq"]), ("k", inst["Wk"]), ("v", inst["Wv"])):
            if key in inst["adapters"]:
                B, A = inst["adapters"][key]
                W = W + inst["alpha"] / B.shape[1] * B @ A
            assert np.abs(inst["X"] @ W).max() == pytest.approx(2.5, rel=0.01)


def test_registry_is_visible():
    names = [a["name"] for a in lorafgc.algorithms()]
    assert "exact" in names and "exact-reference" in names
    info = lorafgc.system_info()
    assert "OpenBLAS" in info["blas_config"]


def bad(inst, **change):
    args = dict(inst)
    args.update(change)
    return args


@pytest.mark.parametrize("change, argument", [
    (lambda i: {"X": i["X"][:, :5]}, "Y"),
    (lambda i: {"Wq": i["Wq"][:4]}, "Wq"),
    (lambda i: {"Y": i["Y"].astype(np.float32)}, "Y"),
    (lambda i: {"X": i["X"].astype(np.int64)}, "X"),
    (lambda i: {"X": np.zeros((0, 8))}, "X"),
    (lambda i: {"X": np.where(np.eye(40, 8) > 0, np.nan, i["X"])}, "X"),
    (lambda i: {"adapters": {"q": i["adapters"]["q"], "x": i["adapters"]["v"]}}, "adapters"),
    (lambda i: {"adapters": {"q": (np.zeros((8, 0)), np.zeros((0, 8)))}}, "adapters['q']"),
    (lambda i: {"adapters": {"q": i["adapters"]["q"], "v": (np.zeros((8, 3)), np.zeros((3, 8)))}},
     "adapters['v']"),
    (lambda i: {"adapters": {"q": i["adapters"]["q"][0]}}, "adapters['q']"),
    (lambda i: {"algorithm": "fastest"}, "algorithm"),
    (lambda i: {"blok": 3}, "option 'blok'"),
])
def test_bad_input_raises_value_error_naming_the_argument(change, argument):
    inst = lorafgc.generate(40, 8, 2, 1.0)
    with pytest.raises(ValueError, match=argument.replace("[", r"\[").replace("]", r"\]")):
        lorafgc.lora_gradients(**bad(inst, **change(inst)))


def test_bad_generate_arguments():
    with pytest.raises(ValueError, match="dtype"):
        lorafgc.generate(10, 4, 2, 1.0, dtype="int8")
    with pytest.raises(ValueError, match="mode"):
        lorafgc.generate(10, 4, 2, 1.0, mode="sideways")
    with pytest.raises(ValueError, match="r"):
        lorafgc.generate(10, 4, 0, 1.0)


def test_instance_families():
    """The families are seeded, hit gamma, and have their defining property: llm keys share
    a component key_share times the largest deviation (centring removes it from the score
    range), adversarial scores sit at the ends of their range."""
    def weights(inst, key):
        W = inst["W" + key]
        if key in inst["adapters"]:
            B, A = inst["adapters"][key]
            W = W + inst["alpha"] / B.shape[1] * B @ A
        return W
    for family in ("gaussian", "llm", "adversarial"):
        inst = lorafgc.generate(1024, 8, 2, 1.5, family=family, seed=4)
        again = lorafgc.generate(1024, 8, 2, 1.5, family=family, seed=4)
        np.testing.assert_array_equal(inst["X"], again["X"])
        for key in "qkv":
            assert np.abs(inst["X"] @ weights(inst, key)).max() == pytest.approx(1.5, rel=1e-12)
        lorafgc.lora_gradients(**inst)  # the instance is a gradients() argument list as before
    np.testing.assert_array_equal(lorafgc.generate(64, 8, 2, 1.0)["X"],
                                  lorafgc.generate(64, 8, 2, 1.0, family="gaussian")["X"])
    llm = lorafgc.generate(1024, 8, 2, 1.0, family="llm", key_share=3.0, outlier_channels=0)
    S = llm["X"] @ weights(llm, "k")
    # k_j = b + g_j with ||b|| = 3G, G = max||g_j||: ||mean key|| = ||b + mean g|| >= 2G, and
    # every deviation ||g_j - mean g|| <= 2G.
    shared = np.linalg.norm(S.mean(axis=0))
    spread = np.linalg.norm(S - S.mean(axis=0), axis=1).max()
    assert shared >= spread
    r = lorafgc.lora.score_range(**llm)
    assert r["T_used"] <= 0.5 * r["T_cauchy_schwarz"]
    adv = lorafgc.generate(512, 8, 2, 1.0, family="adversarial", seed=2)
    scores = np.abs((adv["X"] @ weights(adv, "q")) @ (adv["X"] @ weights(adv, "k")).T)
    assert (scores >= 0.8 * scores.max()).mean() > 0.9


@pytest.mark.parametrize("change, argument", [
    ({"family": "lm"}, "family"),
    ({"family": 3}, "family"),
    ({"family": "llm", "outlier_channels": -1}, "outlier_channels"),
    ({"family": "llm", "outlier_channels": 9}, "outlier_channels"),
    ({"family": "llm", "outlier_channels": 1.5}, "outlier_channels"),
    ({"family": "llm", "outlier_scale": 0.0}, "outlier_scale"),
    ({"family": "llm", "key_share": float("nan")}, "key_share"),
    ({"family": "llm", "spectrum_decay": -1.0}, "spectrum_decay"),
    ({"family": "adversarial", "adversarial_noise": -0.5}, "adversarial_noise"),
])
def test_bad_family_arguments_name_themselves(change, argument):
    with pytest.raises(ValueError, match=argument):
        lorafgc.generate(64, 8, 2, 1.0, **change)


@pytest.mark.parametrize("algorithm", ["poly-cheb", "poly-taylor", "poly-hybrid"])
def test_poly_algorithms_report_degree_rank_and_T(algorithm):
    inst = lorafgc.generate(200, 4, 2, 0.5, mode="full", seed=3)
    got = lorafgc.lora_gradients(**inst, algorithm=algorithm, eps=1e-6)
    info = got["info"]
    assert {"degree", "rank", "T", "error_bound", "poly_error"} <= set(info)
    assert info["poly_error"] <= 1e-6
    d, g = 4, int(info["degree"])
    from math import comb
    assert info["rank"] == comb(d + g, g)
    _, grads = torch_gradients(inst)
    for key, (dB, dA) in grads.items():
        assert np.abs(got[key][0] - dB).max() <= info["error_bound"]
        assert np.abs(got[key][1] - dA).max() <= info["error_bound"]
    fixed = lorafgc.lora_gradients(**inst, algorithm=f"{algorithm}:degree=3")
    assert fixed["info"]["degree"] == 3


@pytest.mark.parametrize("dtype, rows", [("float32", 80), ("float64", 40)])
def test_poly_sweeps_take_fewer_rows_at_large_rank(dtype, rows):
    """sweep_block_rows (docs/lora-gradients.md, "Rows per block"): at d = 8, degree 9
    (rank 24310) 512 rows of features are 50 MB in float; by default the sweeps take the
    most rows whose features fit 8 MiB, a multiple of 8 (floor(8 MiB / (24310 s)) is 86
    in float, 43 in double). A low rank keeps 512; an explicit block is taken as given."""
    inst = lorafgc.generate(1024, 8, 4, 1.0, dtype=dtype, seed=3)
    chosen = lorafgc.lora_gradients(**inst, algorithm="poly-cheb:degree=9")
    fixed = lorafgc.lora_gradients(**inst, algorithm="poly-cheb:degree=9,block=512")
    assert chosen["info"]["block_rows"] == rows and fixed["info"]["block_rows"] == 512
    assert lorafgc.lora_gradients(**inst, algorithm="poly-cheb:degree=2")["info"]["block_rows"] == 512
    if dtype == "float64":
        # The rows change only the order of the sums over 1024 rows: rounding, u = 1.1e-16
        # times about 1e3 terms, times the cancellation of dS's rows (sum to 0), well under 1e-9.
        for key in ("q", "v"):
            for i in (0, 1):
                assert max_rel(chosen[key][i], fixed[key][i]) < 1e-9


def test_poly_hybrid_takes_outliers_exactly_from_python():
    # llm tokens with T_cs = 20: a few long rows set the range; the hybrid covers
    # the rest at a lower degree, within its a-priori bound, and with every row
    # exact it is the exact gradient (to rounding: 1e-12 in double).
    inst = lorafgc.lora.generate(L=1000, d=8, r=4, gamma=1.0, family="llm", score_bound=20.0, seed=1)
    cheb = lorafgc.lora.gradients(**inst, algorithm="poly-cheb")
    hybrid = lorafgc.lora.gradients(**inst, algorithm="poly-hybrid")
    info = hybrid["info"]
    assert info["outlier_queries"] + info["outlier_keys"] > 0
    assert info["T_bulk"] < info["T_used"] and info["degree"] < cheb["info"]["degree"]
    assert info["predicted_flops"] < info["predicted_flops_without"]
    exact = lorafgc.lora.gradients(**inst, algorithm="exact-reference")
    every = lorafgc.lora.gradients(**inst, algorithm="poly-hybrid", outliers=1000)
    for key in ("q", "v"):
        for got, all_exact, truth in zip(hybrid[key], every[key], exact[key]):
            assert np.abs(got - truth).max() <= info["error_bound"]
            assert max_rel(all_exact, truth) < 1e-12
    with pytest.raises(ValueError, match="outliers"):
        lorafgc.lora.gradients(**inst, algorithm="poly-hybrid:outliers=-5")


@pytest.mark.parametrize("spec", ["favor:features=32768", "poly-sketch:sketch=16384"])
def test_random_feature_methods_from_python(spec):
    # Seeded: the same seed gives the same result, another seed another one.
    # At these widths (the registry's tight options) the error against exact is
    # within the declared estimate tolerance, 0.1 of max|G| (2-5e-2 measured,
    # docs/random-features.md); test_random_features.cpp checks the chain exactly.
    inst = lorafgc.lora.generate(L=300, d=4, r=2, gamma=1.0, score_bound=1.0, seed=5, mode="full")
    exact = lorafgc.lora.gradients(**inst, algorithm="exact-reference")
    a = lorafgc.lora.gradients(**inst, algorithm=spec, seed=3)
    b = lorafgc.lora.gradients(**inst, algorithm=spec, seed=3)
    c = lorafgc.lora.gradients(**inst, algorithm=spec, seed=4)
    assert a["info"]["rank"] > 0 and "error_bound" not in a["info"]
    for key in ("q", "k", "v"):
        for x, y, z, t in zip(a[key], b[key], c[key], exact[key]):
            assert np.array_equal(x, y) or max_rel(x, y) < 1e-12
            assert not np.array_equal(x, z)
            assert max_rel(x, t) < 0.1


def test_poly_resource_guard_is_a_value_error():
    inst = lorafgc.generate(64, 16, 2, 1.0, seed=1)
    with pytest.raises(ValueError, match="rank"):
        lorafgc.lora_gradients(**inst, algorithm="poly-cheb", eps=1e-9)


def test_score_range_covers_every_row_shifted_score():
    inst = lorafgc.lora.generate(L=300, d=6, r=2, gamma=1.0, seed=4, score_bound=3.0, mode="full")
    r = lorafgc.lora.score_range(**inst)
    s = inst["alpha"] / 2

    def weight(key, frozen):
        B, A = inst["adapters"][key]
        return frozen + s * B @ A

    Q, K = inst["X"] @ weight("q", inst["Wq"]), inst["X"] @ weight("k", inst["Wk"])
    S = inst["beta"] * Q @ K.T
    # No per-row shift can do better than half of each row's spread.
    assert r["T_used"] >= ((S.max(axis=1) - S.min(axis=1)) / 2).max()
    assert r["T_cauchy_schwarz"] == pytest.approx(3.0, rel=1e-12)
    assert r["T_used"] <= r["T_centred"] * (1 + 1e-12)
    plain = lorafgc.lora.score_range(**inst, centre=False, range_rows=0)
    assert plain["T_used"] == pytest.approx(plain["T_cauchy_schwarz"], rel=1e-13)
    # poly fits exp on the same range.
    info = lorafgc.lora.gradients(**inst, algorithm="poly-cheb")["info"]
    assert info["T_used"] == r["T_used"] and info["T_cauchy_schwarz"] == r["T_cauchy_schwarz"]


@pytest.mark.parametrize("change, argument", [({"range_rows": -1}, "range_rows"), ({"centre": "yes"}, "centre"),
                                              ({"range_rows": 1.5}, "range_rows")])
def test_score_range_bad_arguments_name_the_argument(change, argument):
    inst = lorafgc.lora.generate(L=20, d=4, r=2, gamma=1.0)
    with pytest.raises(ValueError, match=argument):
        lorafgc.lora.score_range(**inst, **change)


def test_kernel_target_names_a_simd_target():
    assert lorafgc.lora.kernel_target() in {"AVX3_SPR", "AVX3_ZEN4", "AVX3_DL", "AVX3", "AVX2", "SSE4", "SSSE3",
                                            "SSE2", "EMU128", "SCALAR"}


RATES = {"gemm_flops_per_s": 1e11, "thin_gemm_flops_per_s": 5e10, "exp_per_s": 1e9, "bytes_per_s": 2e10}


def test_cost_model_counts_and_prediction():
    exact = lorafgc.lora.cost("exact:schedule=fused", L=4096, d=8, r=4)
    assert exact["exps"] == 4096 ** 2 and exact["flop_kind"] == "register_tiled"
    assert exact["flops"] == 2.0 * 4096 ** 2 * (3 * 8 + 4 * 4)
    # weights=true adds a d-wide product per adapter instead of its two r-wide ones.
    weights = lorafgc.lora.cost("exact:schedule=fused,weights=true", L=4096, d=8, r=4)
    assert weights["flops"] == 2.0 * 4096 ** 2 * (3 * 8 + 2 * 8)
    p = lorafgc.predict("exact:schedule=fused", L=4096, d=8, r=4, rates=RATES)
    compute = exact["flops"] / RATES["gemm_flops_per_s"] + exact["exps"] / RATES["exp_per_s"]
    assert p["seconds"] == pytest.approx(max(compute, exact["bytes"] / RATES["bytes_per_s"]))
    # poly's counts follow the range its degree is certified on: more range, more flops.
    low, high = (lorafgc.lora.cost("poly-cheb", L=4096, d=8, T=T) for T in (0.5, 3.0))
    assert low["flop_kind"] == "thin_gemm" and high["flops"] > 4 * low["flops"]


def test_cost_model_matches_a_run_and_names_missing_arguments():
    inst = lorafgc.lora.generate(L=256, d=4, r=2, gamma=1.0, dtype="float64", score_bound=1.5)
    g = lorafgc.lora.gradients(**inst, algorithm="poly-cheb")
    c = lorafgc.lora.cost("poly-cheb", L=256, d=4, r=2, dtype="float64", T=g["info"]["T_used"])
    assert c["flops"] == pytest.approx(g["info"]["flops"])
    with pytest.raises(ValueError, match="T"):
        lorafgc.lora.cost("poly-cheb", L=256, d=4)
    with pytest.raises(ValueError, match="rates"):
        lorafgc.predict("exact", L=256, d=4, rates={"gemm_flops_per_s": 1.0})
    # A malformed cost dict is refused by name, not turned into a NaN time.
    rates = lorafgc.lora.calibrate("float64", threads=1)
    good = lorafgc.lora.cost("exact", L=256, d=4)
    for bad, word in ((dict(good, flops=float("nan")), "flops"), ({k: v for k, v in good.items() if k != "exps"}, "exps"),
                      (dict(good, bytes=-1.0), "bytes"), (dict(good, flop_kind="fast"), "flop_kind")):
        with pytest.raises(ValueError, match=word):
            lorafgc.lora.predicted_seconds(bad, rates)
    with pytest.raises(ValueError, match="dtype"):
        lorafgc.lora.cost("exact", L=256, d=4, dtype="float16")
    with pytest.raises(ValueError, match="L"):
        lorafgc.lora.cost("exact", L=0, d=4)


def test_calibrate_measures_this_machine():
    r = lorafgc.lora.calibrate("float64", threads=1)
    assert r["threads"] == 1 and r["dtype"] == "float64"
    for k in ("gemm_flops_per_s", "thin_gemm_flops_per_s", "exp_per_s", "bytes_per_s"):
        assert 1e6 < r[k] < 1e14
    assert lorafgc.predict("exact", L=1024, d=8, dtype="float64", rates=r)["seconds"] > 0
    p = lorafgc.predict("poly-cheb", L=1024, d=4, r=2, T=1.0, dtype="float64", rates=r, calibrated=True)
    c = p["calibration"]
    assert c["efficiency"] > 0 and c["seconds_per_call"] >= 0 and c["seconds_per_row"] >= 0
    assert p["calibrated_seconds"] == pytest.approx(
        p["seconds"] / c["efficiency"] + c["seconds_per_call"] + c["seconds_per_row"] * p["rows"])


# auto's plan (docs/auto.md). calibrated=False keeps these to milliseconds (the
# calibrated default is tested in C++, test_auto.cpp).
def test_plan_rows_say_what_costing_thrifty_planning_weighed():
    # The first plan fills the process's caches, the second learns what costing
    # takes; the third weighs it: a row left uncosted may lie under the choice
    # by at most its own costing time (docs/auto.md, thrifty).
    inst = lorafgc.lora.generate(L=2048, d=4, r=4, gamma=1.0, score_bound=1.0, dtype="float32")
    for _ in range(3):
        p = lorafgc.plan(inst, target_error=1e-3, calibrated=False)
    rows = [r for r in p["rows"] if r["reason"] is None]
    chosen_seconds = min(r["predicted_seconds"] for r in rows if not r["at_least"])
    assert any(r["costing_seconds"] > 0 for r in rows)
    for r in rows:
        if r["at_least"]:
            assert r["predicted_seconds"] >= chosen_seconds - r["costing_seconds"] - 1e-12


def test_plan_names_what_auto_runs_and_auto_runs_it():
    inst = lorafgc.lora.generate(L=1024, d=8, r=4, gamma=1.0, score_bound=3.0, dtype="float32", family="llm")
    p = lorafgc.plan(inst, target_error=1e-3, calibrated=False)
    candidates = [r for r in p["rows"] if r["reason"] is None]
    costed = [r for r in candidates if not r["at_least"]]
    assert costed and p["chosen"] == min(costed, key=lambda r: r["predicted_seconds"])["spec"]
    assert all(r["expected_error"] <= 1e-3 and r["predicted_seconds"] > 0 for r in candidates)
    chosen_seconds = min(r["predicted_seconds"] for r in costed)
    for r in candidates:  # a row left uncosted: its floor could not beat the choice
        if r["at_least"]:
            assert r["predicted_seconds"] >= chosen_seconds and r["flops"] is None
    assert {r["algorithm"] for r in p["rows"]} >= {"exact", "poly-cheb", "poly-hybrid", "favor", "poly-sketch"}
    assert all(r["costing_seconds"] >= 0 for r in p["rows"])
    assert "auto" not in {r["algorithm"] for r in p["rows"]}
    g = lorafgc.lora.gradients(**inst, algorithm="auto:calibrated=false")
    assert g["info"]["chosen[" + p["chosen"] + "]"] == 1
    truth = lorafgc.lora.gradients(**{k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v)
                                      for k, v in inst.items() if k != "adapters"},
                                   adapters={k: tuple(m.astype(np.float64) for m in v)
                                             for k, v in inst["adapters"].items()}, algorithm="exact")
    scale = max(np.abs(truth[k][i]).max() for k in "qv" for i in (0, 1))
    err = max(np.abs(g[k][i] - truth[k][i]).max() for k in "qv" for i in (0, 1)) / scale
    assert err <= 1e-3


def test_plan_on_a_shape_and_when_nothing_meets_the_target():
    p = lorafgc.plan(L=65536, d=8, T=2.0, calibrated=False)
    rows = {r["algorithm"]: r for r in p["rows"]}
    assert "depends on the data" in rows["poly-hybrid"]["reason"]
    assert "T <= 1" in rows["favor"]["reason"]
    assert p["chosen"] is not None and p["message"] is None
    p = lorafgc.plan(L=4096, d=8, T=1.0, target_error=1e-7, calibrated=False)
    assert p["chosen"] is None and p["closest"] in rows
    assert "no registered algorithm meets target_error = 1e-07 in float32" in p["message"]
    assert p["closest"] in p["message"]


@pytest.mark.parametrize("kwargs, argument", [
    (dict(target_error=0.0), "target_error"), (dict(target_error=1.0), "target_error"),
    (dict(target_error=-1e-3), "target_error"), (dict(target_error=float("nan")), "target_error"),
    (dict(margin=0.5), "margin"), (dict(threads=-1), "threads"), (dict(calibrated="yes"), "calibrated"),
])
def test_plan_bad_arguments_name_the_argument(kwargs, argument):
    inst = lorafgc.lora.generate(L=64, d=4, r=2, gamma=1.0, dtype="float32")
    with pytest.raises(ValueError, match=argument):
        lorafgc.plan(inst, **kwargs)
    with pytest.raises(ValueError, match="instance"):
        lorafgc.plan([1, 2, 3])
    with pytest.raises(ValueError, match="instance"):
        lorafgc.plan(L=64, d=4)


def test_auto_without_a_candidate_names_the_closest():
    inst = lorafgc.lora.generate(L=256, d=4, r=2, gamma=1.0, dtype="float32")
    with pytest.raises(ValueError, match="target_error.*closest is"):
        lorafgc.lora.gradients(**inst, algorithm="auto:target_error=1e-7,calibrated=false")
