"""lorafgc as a PyTorch attention backend (CPU tensors, float32 and float64).

    import lorafgc.torch as lt
    out = lt.attention(q, k, v, causal=True)          # q, k, v: (..., L, head_dim)
    out.sum().backward()                               # dq, dk, dv from lorafgc's backward

`attention` computes softmax(scale q k^T [+ causal mask]) v; its backward is the
registry algorithm's attention backward for the upstream gradient autograd
passes in (docs/attention-backend.md). Tensors are handed to the library
without a copy when they are contiguous (one contiguous copy otherwise).
"""
import math

import torch as _torch

from ._lorafgc.lora import attention_backward as _backward
from ._lorafgc.lora import attention_forward as _forward

__all__ = ["attention", "reference_attention"]

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
    def forward(ctx, q, k, v, causal, scale, spec):
        q4, k4, v4 = _as_4d(q), _as_4d(k), _as_4d(v)
        out, lse = _forward(q4, k4, v4, causal, scale, spec)
        ctx.causal, ctx.scale, ctx.spec, ctx.shape = causal, scale, spec, q.shape
        ctx.save_for_backward(*(_torch.from_numpy(a) for a in (q4, k4, v4, out, lse)))
        return _torch.from_numpy(out).reshape(q.shape)

    @staticmethod
    @_torch.autograd.function.once_differentiable
    def backward(ctx, d_out):
        saved = ctx.saved_tensors
        q4, k4, v4, out, lse = (t.numpy() for t in saved)
        d4 = _as_4d(d_out.to(saved[0].dtype).reshape(saved[3].shape))
        dq, dk, dv = _backward(q4, k4, v4, out, lse, d4, ctx.causal, ctx.scale, ctx.spec)
        shape = ctx.shape
        return (_torch.from_numpy(dq).reshape(shape), _torch.from_numpy(dk).reshape(shape),
                _torch.from_numpy(dv).reshape(shape), None, None, None)


def attention(q, k, v, causal=False, scale=None, algorithm="exact", **options):
    """softmax(scale q k^T) v over the last two dimensions, differentiable in q, k and v.

    q, k, v: CPU tensors of one shape (..., L, head_dim) and one dtype (float32 or
    float64); the leading dimensions (batch, heads, ...) are independent
    sequences. causal: query i attends to keys j <= i. scale: None for
    1/sqrt(head_dim). algorithm: a registry spec ("exact", "exact:tile=512",
    "exact-reference"), with **options appended to it. Bad arguments raise
    ValueError naming the argument.
    """
    _check(q, k, v)
    if not isinstance(causal, bool):
        raise ValueError(f"causal: expected a bool, got {type(causal).__name__}")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] > 0 else 1.0
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"scale: expected a finite real number, got {scale!r}")
    return _Attention.apply(q, k, v, causal, float(scale), _spec(algorithm, options))


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
