"""lorafgc.torch.attention: gradcheck in float64, agreement with PyTorch's own
autograd of softmax(scale q k^T + mask) v (an oracle independent of the C++
code) in float32 and float64, causal and not, and bad input as ValueError."""
import math

import pytest

torch = pytest.importorskip("torch")
import lorafgc.torch as lt  # noqa: E402

# As for the LoRA gradients (the registry's `exact` rounding tolerances): each
# entry is a sum of O(L) products, rounding about c L u relative to the terms;
# for L <= 300 and O(1) entries far below these. A wrong mask or tile is off
# at order one.
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-12}


def leaves(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=dtype).requires_grad_() for _ in range(3)]


def gradients(fn, q, k, v, d_out):
    out = fn(q, k, v)
    q.grad = k.grad = v.grad = None
    out.backward(d_out)
    return out.detach(), q.grad, k.grad, v.grad


def max_rel(got, want):
    return ((got - want).abs().max() / want.abs().max().clamp_min(1e-300)).item()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("algorithm", ["exact", "exact-reference"])
def test_gradcheck_float64(causal, algorithm):
    q, k, v = leaves((2, 2, 7, 3), torch.float64, 1)
    assert torch.autograd.gradcheck(lambda a, b, c: lt.attention(a, b, c, causal=causal, algorithm=algorithm),
                                    (q, k, v))


SHAPES = [(1, 1, 2, 1), (2, 3, 17, 5), (1, 4, 65, 16), (3, 2, 130, 7), (1, 1, 300, 33), (5, 33, 8), (40, 4)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_agrees_with_torch_autograd(shape, causal, dtype):
    q, k, v = leaves(shape, dtype, sum(shape))
    d_out = torch.randn(*shape, dtype=dtype)
    scale = 0.8 / math.sqrt(shape[-1])
    want = gradients(lambda a, b, c: lt.reference_attention(a.double(), b.double(), c.double(), causal, scale),
                     q, k, v, d_out.double())
    got = gradients(lambda a, b, c: lt.attention(a, b, c, causal=causal, scale=scale), q, k, v, d_out)
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        assert g.dtype == dtype and g.shape == w.shape, name
        assert max_rel(g.double(), w) <= TOLERANCE[dtype], name


def test_default_scale_options_and_noncontiguous_input():
    q, k, v = leaves((2, 3, 40, 8), torch.float64, 3)
    d_out = torch.randn(2, 3, 40, 8, dtype=torch.float64)
    want = gradients(lambda a, b, c: lt.reference_attention(a, b, c, True, 1 / math.sqrt(8)), q, k, v, d_out)
    got = gradients(lambda a, b, c: lt.attention(a, b, c, causal=True, tile=64, block=8), q, k, v, d_out)
    for g, w in zip(got, want):
        assert max_rel(g, w) <= 1e-12
    # Transposed views (not contiguous) give the same values as their copies.
    qt = q.detach().transpose(1, 2).contiguous().transpose(1, 2).requires_grad_()
    assert not qt.is_contiguous()
    got_t = gradients(lambda a, b, c: lt.attention(a, b, c, causal=True), qt, k, v, d_out)
    for g, w in zip(got_t, want):
        assert max_rel(g, w) <= 1e-12


def test_drop_in_for_an_attention_core():
    """Used inside a module: the gradients reach the parameters before it."""
    torch.manual_seed(0)
    proj = torch.nn.Linear(12, 3 * 12, dtype=torch.float64)
    x = torch.randn(2, 10, 12, dtype=torch.float64)

    def run(core):
        proj.zero_grad()
        q, k, v = proj(x).view(2, 10, 3, 3, 4).permute(2, 0, 3, 1, 4)  # (3, batch, heads, L, 4)
        core(q, k, v).square().sum().backward()
        return proj.weight.grad.clone()

    want = run(lambda q, k, v: lt.reference_attention(q, k, v, True, 0.5))
    got = run(lambda q, k, v: lt.attention(q, k, v, causal=True))
    assert max_rel(got, want) <= 1e-12


@pytest.mark.parametrize("bad, argument", [
    (dict(k=torch.zeros(1, 1, 5, 4)), "k"),
    (dict(v=torch.zeros(1, 1, 4, 4, dtype=torch.float64)), "v"),
    (dict(q=torch.zeros(1, 1, 4, 4, dtype=torch.int32)), "q"),
    (dict(q=torch.zeros(1, 1, 4, 4, device="meta")), "q"),
    (dict(q=torch.zeros(4)), "q"),
    (dict(q=[[1.0]]), "q"),
    (dict(scale=float("nan")), "scale"),
    (dict(scale=float("inf")), "scale"),
    (dict(scale="1"), "scale"),
    (dict(causal=1), "causal"),
    (dict(algorithm="auto:calibrated=false,target_error=1e-300"), "target_error"),
    (dict(info=[]), "info"),
    (dict(v=torch.tensor([[[[0.0] * 4] * 3 + [[float("nan")] * 4]]])), "v"),
    (dict(algorithm="no-such-algorithm"), "no-such-algorithm"),
    (dict(algorithm="exact", tile=0), "tile"),
])
def test_bad_input_is_a_value_error_naming_the_argument(bad, argument):
    args = dict(q=torch.zeros(1, 1, 4, 4), k=torch.zeros(1, 1, 4, 4), v=torch.zeros(1, 1, 4, 4))
    args.update(bad)
    with pytest.raises(ValueError, match=argument):
        lt.attention(**args)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("algorithm", ["poly-cheb:eps=1e-3", "poly-taylor:eps=1e-4,block=48",
                                       "poly-hybrid:eps=1e-3,outliers=8"])
def test_polynomial_within_its_bounds(algorithm, causal, dtype):
    """The certified polynomial's attention: every error under the a-priori bound
    it reports (plus the dtype's rounding allowance), against PyTorch in float64."""
    shape = (2, 3, 130, 4)
    g = torch.Generator().manual_seed(5)
    q, k, v = (0.5 * torch.randn(*shape, generator=g, dtype=dtype) for _ in range(3))
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    d_out = torch.randn(*shape, generator=g, dtype=dtype)
    want = gradients(lambda a, b, c: lt.reference_attention(a.double(), b.double(), c.double(), causal), q, k, v,
                     d_out.double())
    info = {}
    got = gradients(lambda a, b, c: lt.attention(a, b, c, causal=causal, algorithm=algorithm, info=info), q, k, v,
                    d_out)
    assert info["certified"] == 1 and info["degree"] >= 1 and info["T_used"] <= info["T_cauchy_schwarz"]
    for name, g_, w in zip(("out", "dq", "dk", "dv"), got, want):
        error = (g_.double() - w).abs().max().item()
        assert error <= info["error_bound_" + name] + TOLERANCE[dtype] * w.abs().max().item(), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_polynomial_backward_after_exact_forward(causal, dtype):
    """backward_algorithm alone: the forward is exact's (to rounding), the
    gradients the polynomial's, each within the bound it reports against the
    exact gradient (docs/attention-backend.md, "Polynomial backward only":
    with the exact forward's O the bounds of the approximate forward hold,
    one of their terms being zero)."""
    shape = (2, 3, 200, 4)  # 200 rows: several 64-row chunks
    g = torch.Generator().manual_seed(7)
    q, k, v = (0.6 * torch.randn(*shape, generator=g, dtype=dtype) for _ in range(3))
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    d_out = torch.randn(*shape, generator=g, dtype=dtype)
    want = gradients(lambda a, b, c: lt.reference_attention(a.double(), b.double(), c.double(), causal), q, k, v,
                     d_out.double())
    info = {}
    got = gradients(lambda a, b, c: lt.attention(a, b, c, causal=causal, info=info,
                                                 backward_algorithm="poly-cheb:eps=1e-2"), q, k, v, d_out)
    assert max_rel(got[0].double(), want[0]) <= TOLERANCE[dtype]
    assert info["certified"] == 1 and info["degree"] >= 2
    for name, g_, w in zip(("dq", "dk", "dv"), got[1:], want[1:]):
        error = (g_.double() - w).abs().max().item()
        assert error <= info["error_bound_" + name] + TOLERANCE[dtype] * w.abs().max().item(), name
    # The polynomial ran: its dq is 10x further from the truth than exact's in the same dtype.
    exact = gradients(lambda a, b, c: lt.attention(a, b, c, causal=causal), q, k, v, d_out)
    assert max_rel(got[1].double(), want[1]) > 10 * max_rel(exact[1].double(), want[1])


@pytest.mark.parametrize("bad,words", [(3, ["backward_algorithm", "string"]),
                                       ("poly-cheb:epz=1", ["backward_algorithm", "epz"]),
                                       ("nonsense", ["backward_algorithm", "unknown algorithm"])])
def test_bad_backward_algorithm_is_refused_at_the_call(bad, words):
    q, k, v = leaves((1, 8, 4), torch.float64, 1)
    with pytest.raises(ValueError) as e:
        lt.attention(q, k, v, backward_algorithm=bad)
    assert all(w in str(e.value) for w in words)


@pytest.mark.parametrize("causal", [False, True])
def test_auto_returns_what_it_chose(causal):
    """auto's attention: info names the one algorithm it chose (chosen[spec]),
    forward and backward, and the output and gradients are that one's."""
    shape = (1, 2, 150, 4)
    g = torch.Generator().manual_seed(6)
    q, k, v = ((0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_() for _ in range(3))
    d_out = torch.randn(*shape, generator=g, dtype=torch.float64)
    info = {}
    got = gradients(lambda a, b, c: lt.attention(a, b, c, causal=causal, algorithm="auto:calibrated=false",
                                                 info=info), q, k, v, d_out)
    chosen = [key[len("chosen["):-1] for key, value in info.items() if key.startswith("chosen[") and value == 1]
    assert len(chosen) == 1
    want = gradients(lambda a, b, c: lt.attention(a, b, c, causal=causal, algorithm=chosen[0]), q, k, v, d_out)
    for g_, w in zip(got, want):  # exact's sums depend on its buffers' alignment: not bitwise
        assert max_rel(g_, w) <= 1e-12


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("adapt", [("q", "v"), ("q", "k", "v")])
def test_lora_attention_module_matches_pytorch(adapt, causal):
    """LoRAAttention's output and adapter gradients against the same module with
    PyTorch's attention, in float64; the frozen weights get no gradient."""
    torch.manual_seed(2)
    m = lt.LoRAAttention(width=12, heads=3, rank=2, alpha=4, adapt=adapt, causal=causal, dtype=torch.float64)
    for p in m.lora_B.values():
        torch.nn.init.normal_(p)  # B starts at zero; give the adapters something to differentiate
    x = torch.randn(2, 11, 12, dtype=torch.float64)

    def run(core):
        m.zero_grad()
        q, k, v = (m.project(x, p) for p in ("q", "k", "v"))
        y = core(q, k, v).transpose(1, 2).reshape(x.shape)
        y.square().sum().backward()
        return [y.detach()] + [p.grad.clone() for p in list(m.lora_B.values()) + list(m.lora_A.values())]

    want = run(lambda q, k, v: lt.reference_attention(q, k, v, causal))
    got = run(lambda q, k, v: lt.attention(q, k, v, causal=causal))
    for g, w in zip(got, want):
        assert max_rel(g, w) <= 1e-12
    assert torch.equal(m(x), got[0])
    assert not any(b.requires_grad for b in m.buffers())
    assert {n for n, _ in m.named_parameters()} == {f"lora_{s}.{p}" for s in "BA" for p in adapt}


@pytest.mark.parametrize("bad, argument", [
    (dict(heads=5), "heads"),
    (dict(rank=0), "rank"),
    (dict(adapt=("o",)), "adapt"),
    (dict(adapt=()), "adapt"),
    (dict(dtype=torch.int64), "dtype"),
    (dict(weights={"q": torch.zeros(3, 3)}), "weights"),
])
def test_lora_attention_bad_arguments(bad, argument):
    args = dict(width=12, heads=3)
    args.update(bad)
    with pytest.raises(ValueError, match=argument):
        lt.LoRAAttention(**args)


def test_lora_attention_bad_input():
    m = lt.LoRAAttention(width=8, heads=2)
    with pytest.raises(ValueError, match="x"):
        m(torch.zeros(2, 5, 6))
    with pytest.raises(ValueError, match="x: expected dtype torch.float32"):
        m(torch.zeros(2, 5, 8, dtype=torch.float64))
