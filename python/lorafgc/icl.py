"""In-context deep learning (Wu et al., ICML 2025): the N-layer network, its direct
projected GD, and the explicit (2N+4)L-layer ReLU transformer that runs the same GD in context."""
from ._lorafgc.icl import IcgdTransformer, gradient, loss, predict, projected_gd

__all__ = ["predict", "loss", "gradient", "projected_gd", "IcgdTransformer"]
