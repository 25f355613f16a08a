"""The installed Python package, imported from the install prefix (argv[1])
with nothing of the build tree on the path; the attention backward runs."""
import sys

import torch

import lorafgc
import lorafgc.torch

prefix = sys.argv[1]
assert lorafgc.__file__.startswith(prefix), lorafgc.__file__
q = torch.randn(1, 2, 9, 4, dtype=torch.float64, requires_grad=True)
lorafgc.torch.attention(q, q, q, causal=True).sum().backward()
assert q.grad is not None and torch.isfinite(q.grad).all()
print("installed module:", lorafgc.__file__)
