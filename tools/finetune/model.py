"""A small causal byte-level transformer whose attention core is chosen per run:
PyTorch autograd (`torch`), or lorafgc's attention backend with one algorithm for
the forward and one for the backward (docs/finetune.md).

Pre-LN blocks: x + W_o attn(LN x), x + MLP(LN x) (GELU, 4x width); learned
positions; the byte embedding tied to the output layer. The q and v projections
carry LoRA adapters W + (alpha / r) B A, evaluated as (x B) A; `freeze_for_lora`
leaves only the adapters trainable. `score_temperature` tau (optional) bounds
every score by tau (QK-norm), so the polynomial's range is known in advance.
"""
import math
import time

import torch

import lorafgc.torch as lt


class AttentionCore:
    """softmax(q k^T / sqrt(d) + causal mask) v for (batch, heads, L, d) tensors,
    timing its forward and backward (seconds accumulated in `seconds`) and
    recording the score range each call met (`ranges`, one dict per call while
    `record` is set)."""

    def __init__(self, forward="exact", backward=None):
        self.forward_spec = forward
        self.backward_spec = backward  # None: the forward's algorithm
        self.seconds = {"attention_forward": 0.0, "attention_backward": 0.0}
        self.record = False
        self.ranges = []

    def __call__(self, q, k, v):
        return _TimedAttention.apply(q, k, v, self)


def score_range(q, k):
    """Per head: the Cauchy-Schwarz bound T = max|q_i| max|k_j| / sqrt(d); the
    bound with the keys centred on their mean c (the polynomial's range starts
    from the smaller of the two); the largest |score| met, and the largest
    |q_i . (k_j - c)| / sqrt(d) met (causal pairs): what a range centred on c
    must hold, since each row's shift q_i . c is taken exactly."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    c = k.mean(dim=-2, keepdim=True)
    L = q.shape[-2]
    above = torch.ones(L, L, dtype=torch.bool).triu(1)

    def largest(keys):
        return (scale * (q @ keys.transpose(-1, -2)).abs().masked_fill(above, 0).amax(dim=(-1, -2))).flatten().tolist()

    qn = q.norm(dim=-1).amax(dim=-1)
    return {"T_cauchy_schwarz": (scale * qn * k.norm(dim=-1).amax(dim=-1)).flatten().tolist(),
            "T_centred": (scale * qn * (k - c).norm(dim=-1).amax(dim=-1)).flatten().tolist(),
            "max_abs_score": largest(k), "max_abs_centred_score": largest(k - c)}


class _TimedAttention(torch.autograd.Function):
    """The core's attention (PyTorch's own or lorafgc's) as one autograd node,
    so its forward and backward are timed apart from the rest of the step."""

    @staticmethod
    def forward(ctx, q, k, v, core):
        ctx.core = core
        if core.record:
            core.ranges.append(score_range(q.detach(), k.detach()))
        with torch.enable_grad():
            q1, k1, v1 = (t.detach().requires_grad_() for t in (q, k, v))
            start = time.perf_counter()
            if core.forward_spec == "torch":
                out = lt.reference_attention(q1, k1, v1, causal=True)
            else:
                out = lt.attention(q1, k1, v1, causal=True, algorithm=core.forward_spec,
                                   backward_algorithm=core.backward_spec)
            core.seconds["attention_forward"] += time.perf_counter() - start
        ctx.save_for_backward(q1, k1, v1, out)
        return out.detach()

    @staticmethod
    def backward(ctx, d_out):
        q1, k1, v1, out = ctx.saved_tensors
        start = time.perf_counter()
        grads = torch.autograd.grad(out, (q1, k1, v1), d_out)
        ctx.core.seconds["attention_backward"] += time.perf_counter() - start
        return (*grads, None)


class LoRALinear(torch.nn.Module):
    """x W (+ (alpha / r) (x B) A once `add_adapter` has been called); B starts at
    zero so the adapted layer starts as the pre-trained one."""

    def __init__(self, width):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(width, width) / math.sqrt(width))
        self.A = self.B = None
        self.lora_scale = 0.0

    def add_adapter(self, rank, alpha, generator):
        width = self.weight.shape[0]
        self.B = torch.nn.Parameter(torch.zeros(width, rank))
        self.A = torch.nn.Parameter(torch.randn(rank, width, generator=generator) / math.sqrt(rank))
        self.lora_scale = alpha / rank

    def forward(self, x):
        y = x @ self.weight
        if self.B is not None:
            y = y + self.lora_scale * (x @ self.B) @ self.A
        return y


def qk_norm(y, tau):
    """Each row of y (..., L, d) normalised to length (tau sqrt(d))^(1/2), so
    that |q_i . k_j| / sqrt(d) <= tau for two such rows (QK-norm): T = tau."""
    return torch.nn.functional.normalize(y, dim=-1) * (tau * math.sqrt(y.shape[-1])) ** 0.5


class Block(torch.nn.Module):
    def __init__(self, width, heads, core, score_temperature=None):
        super().__init__()
        self.heads, self.core, self.temperature = heads, core, score_temperature
        self.ln1, self.ln2 = torch.nn.LayerNorm(width), torch.nn.LayerNorm(width)
        self.q, self.k, self.v = LoRALinear(width), LoRALinear(width), LoRALinear(width)
        self.o = torch.nn.Linear(width, width, bias=False)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(width, 4 * width), torch.nn.GELU(),
                                       torch.nn.Linear(4 * width, width))

    def split(self, y):
        b, L, w = y.shape
        return y.view(b, L, self.heads, w // self.heads).transpose(1, 2).contiguous()

    def bounded(self, y):
        return y if self.temperature is None else qk_norm(y, self.temperature)

    def forward(self, x):
        h = self.ln1(x)
        a = self.core(self.bounded(self.split(self.q(h))), self.bounded(self.split(self.k(h))),
                      self.split(self.v(h)))
        x = x + self.o(a.transpose(1, 2).reshape(x.shape))
        return x + self.mlp(self.ln2(x))


class ByteTransformer(torch.nn.Module):
    """Next-byte model over a context of `context` bytes."""

    def __init__(self, context, width=32, heads=4, layers=4, score_temperature=None, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.context = context
        self.core = AttentionCore()
        self.embed = torch.nn.Embedding(256, width)
        torch.nn.init.normal_(self.embed.weight, std=width ** -0.5)
        self.position = torch.nn.Parameter(0.02 * torch.randn(context, width))
        self.blocks = torch.nn.ModuleList(Block(width, heads, self.core, score_temperature) for _ in range(layers))
        self.ln = torch.nn.LayerNorm(width)

    def forward(self, tokens):
        x = self.embed(tokens) + self.position[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.ln(x) @ self.embed.weight.T

    def loss(self, tokens):
        """Mean cross-entropy (nats per byte) of predicting tokens[:, 1:]."""
        logits = self(tokens[:, :-1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 256), tokens[:, 1:].reshape(-1))

    def freeze_for_lora(self, rank, alpha, seed):
        """Every weight frozen; adapters on q and v (rank, alpha) the only parameters left to train."""
        for p in self.parameters():
            p.requires_grad_(False)
        g = torch.Generator().manual_seed(seed)
        for block in self.blocks:
            block.q.add_adapter(rank, alpha, g)
            block.v.add_adapter(rank, alpha, g)
        return [p for p in self.parameters() if p.requires_grad]
