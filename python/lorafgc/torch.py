"""lorafgc as a PyTorch attention backend (CPU tensors, float32 and float64).

    import lorafgc.torch as lt
    out = lt.attention(q, k, v, causal=True)          # q, k, v: (..., L, head_dim)
    out.sum().backward()                               # dq, dk, dv from lorafgc's backward

`attention` computes softmax(scale q k^T [+ causal mask]) v; its backward is the
registry algorithm's attention backward for the upstream gradient autograd
passes in (docs/attention-backend.md). Tensors are handed to the library
without a copy when they are contiguous (one contiguous copy otherwise).

Threads: lorafgc shares PyTorch's OpenMP runtime, which importing torch sets to
torch.get_num_threads() (the physical cores: 1 on a 2-vCPU SMT machine). Use
torch.set_num_threads(n) or the `threads=n` option (docs/attention-backend.md).
"""
import math

import torch as _torch

from ._lorafgc.lora import attention_backward as _backward
from ._lorafgc.lora import attention_forward as _forward
from ._lorafgc.lora import check_spec as _check_spec

__all__ = ["attention", "reference_attention", "LoRAAttention"]

_DTYPES = (_torch.float32, _torch.float64)


def _spec(algorithm, options):
    if not isinstance(algorithm, str):
        raise ValueError(f"algorithm: expected a string, got {type(algorithm).__name__}")
    if not options:
        return algorithm
    text = ",".join(f"{k}={'true' if v is True else 'false' if v is False else v}" for k, v in options.items())
    return f"{algorithm}{',' if ':' in algorithm else ':'}{text}"


def _check(q, k, v):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, _torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.device.type != "cpu":
            raise ValueError(f"{name}: lorafgc runs on CPU tensors, got device {t.device}")
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {t.dtype} is not torch.float32 or torch.float64")
        if t.dtype != q.dtype:
            raise ValueError(f"{name}: dtype {t.dtype} differs from q's dtype {q.dtype}")
        if t.dim() < 2:
            raise ValueError(f"{name}: expected shape (..., L, head_dim), got {tuple(t.shape)}")
        if t.shape != q.shape:
            raise ValueError(f"{name}: shape {tuple(t.shape)} differs from q's shape {tuple(q.shape)} "
                             "(self-attention with one length and one head width)")


def _as_4d(t):
    """(..., L, d) as a contiguous (batch, 1, L, d) numpy view: no copy when t is contiguous."""
    t = t.detach().contiguous()
    return t.reshape(-1, 1, t.shape[-2], t.shape[-1]).numpy()


class _Attention(_torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, causal, scale, spec, backward_spec, info):
        q4, k4, v4 = _as_4d(q), _as_4d(k), _as_4d(v)
        out, lse, forward_info = _forward(q4, k4, v4, causal, scale, spec)
        if info is not None:
            info.update(forward_info)
        ctx.causal, ctx.scale, ctx.backward_spec, ctx.shape, ctx.info = causal, scale, backward_spec, q.shape, info
        ctx.save_for_backward(*(_torch.from_numpy(a) for a in (q4, k4, v4, out, lse)))
        return _torch.from_numpy(out).reshape(q.shape)

    @staticmethod
    @_torch.autograd.function.once_differentiable
    def backward(ctx, d_out):
        saved = ctx.saved_tensors
        q4, k4, v4, out, lse = (t.numpy() for t in saved)
        d4 = _as_4d(d_out.to(saved[0].dtype).reshape(saved[3].shape))
        dq, dk, dv, backward_info = _backward(q4, k4, v4, out, lse, d4, ctx.causal, ctx.scale, ctx.backward_spec)
        if ctx.info is not None:
            ctx.info.update(backward_info)
        shape = ctx.shape
        return (_torch.from_numpy(dq).reshape(shape), _torch.from_numpy(dk).reshape(shape),
                _torch.from_numpy(dv).reshape(shape), None, None, None, None, None)


def attention(q, k, v, causal=False, scale=None, algorithm="exact", info=None, backward_algorithm=None, **options):
    """softmax(scale q k^T) v over the last two dimensions, differentiable in q, k and v.

    q, k, v: CPU tensors of one shape (..., L, head_dim) and one dtype (float32 or
    float64); the leading dimensions (batch, heads, ...) are independent
    sequences. causal: query i attends to keys j <= i. scale: None for
    1/sqrt(head_dim). algorithm: a registry spec ("exact", "exact:tile=512",
    "exact-reference", "poly-cheb:eps=1e-3", "poly-hybrid", "favor",
    "auto:target_error=1e-3", ...), with **options appended to it. info: a
    dict to fill with what the algorithm reports (the polynomial's degree,
    rank, certified range T_used, error_bound_out from the forward;
    error_bound_dq, _dk, _dv from the backward; poly-hybrid's exact rows;
    auto's choice, chosen[<spec>] = 1, and predictions). backward_algorithm:
    None for the same spec as the forward's, or another spec for the backward
    alone (**options are not appended to it): "exact" forward with a
    "poly-cheb:eps=1e-3" backward approximates the exact gradient within the
    polynomial's reported bounds (docs/attention-backend.md, "Polynomial
    backward only"). Bad arguments raise
    ValueError naming the argument; a non-finite result raises
    lorafgc.NumericalError.
    """
    _check(q, k, v)
    if not isinstance(causal, bool):
        raise ValueError(f"causal: expected a bool, got {type(causal).__name__}")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] > 0 else 1.0
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"scale: expected a finite real number, got {scale!r}")
    if info is not None and not isinstance(info, dict):
        raise ValueError(f"info: expected a dict or None, got {type(info).__name__}")
    if backward_algorithm is not None:
        if not isinstance(backward_algorithm, str):
            raise ValueError(f"backward_algorithm: expected a string or None, got {type(backward_algorithm).__name__}")
        try:
            _check_spec(backward_algorithm)  # now, not when autograd reaches the backward
        except ValueError as e:
            raise ValueError(f"backward_algorithm: {e}") from None
    spec = _spec(algorithm, options)
    backward_spec = spec if backward_algorithm is None else backward_algorithm
    return _Attention.apply(q, k, v, causal, float(scale), spec, backward_spec, info)


def reference_attention(q, k, v, causal=False, scale=None):
    """The same attention composed of PyTorch operations (its autograd gives the
    backward): the L x L scores formed, masked with -inf above the diagonal when
    causal. The baseline the benchmarks and tests compare with."""
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    s = scale * q @ k.transpose(-1, -2)
    if causal:
        L = q.shape[-2]
        s = s.masked_fill(_torch.ones(L, L, dtype=_torch.bool, device=q.device).triu(1), float("-inf"))
    return _torch.softmax(s, dim=-1) @ v


_PROJECTIONS = ("q", "k", "v")


class LoRAAttention(_torch.nn.Module):
    """Multi-head self-attention with frozen W_q, W_k, W_v (width x width) and LoRA
    adapters W + (alpha / r) B A (B: width x r, A: r x width) on the chosen
    projections; the attention core is `attention` (the registry's algorithm).

        m = LoRAAttention(width=64, heads=4, rank=8, adapt=("q", "v"), causal=True)
        y = m(x)                      # x: (batch, L, width) -> (batch, L, width)

    Only the adapters train (the frozen weights are buffers). Each LoRA branch is
    evaluated as (x B) A, so autograd's backward of it is the contracted one,
    dB = s x^T (dY A^T) and dA = s (x B)^T dY: O(L width r), never a width x
    width weight gradient. B starts at zero and A at N(0, 1/r), so the adapted
    module starts as the frozen one. weights: optional dict of frozen (width x
    width) tensors for "q", "k", "v"; others are drawn like nn.Linear's.
    """

    def __init__(self, width, heads, rank=8, alpha=None, adapt=("q", "v"), causal=False, scale=None,
                 algorithm="exact", weights=None, dtype=_torch.float32, **options):
        super().__init__()
        for name, value in (("width", width), ("heads", heads), ("rank", rank)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if width % heads:
            raise ValueError(f"heads: {heads} heads do not divide the width {width}")
        unknown = set(adapt) - set(_PROJECTIONS)
        if unknown or not adapt:
            raise ValueError(f"adapt: expected a non-empty subset of {_PROJECTIONS}, got {adapt!r}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype: {dtype} is not torch.float32 or torch.float64")
        self.width, self.heads, self.rank, self.causal, self.scale = width, heads, rank, causal, scale
        self.lora_scale = (rank if alpha is None else alpha) / rank
        self.algorithm, self.options = algorithm, options
        weights = weights or {}
        for p in _PROJECTIONS:
            w = weights.get(p)
            if w is None:
                w = _torch.empty(width, width, dtype=dtype)
                _torch.nn.init.kaiming_uniform_(w.T, a=math.sqrt(5))
            elif tuple(w.shape) != (width, width):
                raise ValueError(f"weights['{p}']: shape {tuple(w.shape)} is not ({width}, {width})")
            self.register_buffer(f"W_{p}", w.detach().to(dtype).clone())
        self.lora_B = _torch.nn.ParameterDict(
            {p: _torch.nn.Parameter(_torch.zeros(width, rank, dtype=dtype)) for p in adapt})
        self.lora_A = _torch.nn.ParameterDict(
            {p: _torch.nn.Parameter(_torch.randn(rank, width, dtype=dtype) / math.sqrt(rank)) for p in adapt})

    def project(self, x, p):
        """x W*_p + s (x B_p) A_p, split into heads: (batch, heads, L, width / heads)."""
        y = x @ getattr(self, f"W_{p}")
        if p in self.lora_B:
            y = y + self.lora_scale * (x @ self.lora_B[p]) @ self.lora_A[p]
        b, L, _ = y.shape
        return y.view(b, L, self.heads, self.width // self.heads).transpose(1, 2)

    def forward(self, x):
        if not isinstance(x, _torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.width:
            raise ValueError(f"x: expected a tensor (batch, L, {self.width}), got "
                             f"{tuple(x.shape) if isinstance(x, _torch.Tensor) else type(x).__name__}")
        if x.dtype != self.W_q.dtype:
            raise ValueError(f"x: expected dtype {self.W_q.dtype} (the module's), got {x.dtype}")
        q, k, v = (self.project(x, p) for p in _PROJECTIONS)
        out = attention(q, k, v, causal=self.causal, scale=self.scale, algorithm=self.algorithm, **self.options)
        return out.transpose(1, 2).reshape(x.shape)
