"""Looped linear transformers learning multi-step preconditioned gradient descent
(Gatmiry et al., ICML 2024): training, the GD references, test losses, the forward pass."""
from ._lorafgc.looped import anisotropic_covariance, forward, gd_reference, test_losses, train

__all__ = ["train", "gd_reference", "test_losses", "forward", "anisotropic_covariance"]
