"""LoRA attention gradients: exact and approximate algorithms from one registry.

    inst = lorafgc.lora.generate(L=4096, d=64, r=8, gamma=1.0, dtype="float32")
    g = lorafgc.lora.gradients(**inst, algorithm="exact")   # or "poly-cheb:eps=1e-3"
    lorafgc.lora.algorithms()                                # names, options, exact/oracle flags
"""
from ._lorafgc.lora import algorithms, generate, gradients

__all__ = ["gradients", "generate", "algorithms"]
