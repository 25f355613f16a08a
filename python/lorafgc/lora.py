"""LoRA attention gradients: exact and approximate algorithms from one registry.

    inst = lorafgc.lora.generate(L=4096, d=64, r=8, gamma=1.0, dtype="float32")
    g = lorafgc.lora.gradients(**inst, algorithm="exact")   # or "poly-cheb:eps=1e-3"
    lorafgc.lora.algorithms()                                # names, options, exact/oracle flags
    lorafgc.lora.score_range(**inst)                         # T_cauchy_schwarz, T_centred, T_used
    lorafgc.lora.kernel_target()                             # SIMD target of the dispatched kernels
"""
from ._lorafgc.lora import algorithms, generate, gradients, kernel_target, score_range

__all__ = ["gradients", "generate", "algorithms", "score_range", "kernel_target"]
