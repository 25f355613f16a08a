"""lorafgc: fine-grained complexity of gradient computation in transformer attention.

One submodule per workload:

    lorafgc.lora     LoRA attention gradients, exact and approximate (gradients, generate, algorithms)
    lorafgc.looped   looped linear transformers learning preconditioned GD (train, gd_reference, ...)
    lorafgc.icl      in-context deep learning: the explicit ICGD transformer (IcgdTransformer, ...)

and at the top level what they share: set_num_threads, system_info, NumericalError.
The names the module had before it was split by workload (lora_gradients,
train_looped, icl_predict, ...) remain as aliases, so existing scripts keep working.
"""
from . import icl, looped, lora
from ._lorafgc.core import NumericalError, set_num_threads, system_info

# Aliases: the top-level names of the single-module API.
lora_gradients = lora.gradients
generate = lora.generate
algorithms = lora.algorithms
predict = lora.predict  # the cost model's predicted time: lorafgc.predict("exact", L=..., d=...)
plan = lora.plan  # what auto would run for a target error: lorafgc.plan(instance, target_error=1e-3)
train_looped = looped.train
looped_gd_reference = looped.gd_reference
looped_test_losses = looped.test_losses
looped_forward = looped.forward
anisotropic_covariance = looped.anisotropic_covariance
icl_predict = icl.predict
icl_loss = icl.loss
icl_gradient = icl.gradient
icl_projected_gd = icl.projected_gd
IcgdTransformer = icl.IcgdTransformer

__all__ = ["lora", "looped", "icl", "NumericalError", "set_num_threads", "system_info",
           "lora_gradients", "generate", "algorithms", "predict", "train_looped", "looped_gd_reference",
           "looped_test_losses", "looped_forward", "anisotropic_covariance", "icl_predict", "icl_loss",
           "icl_gradient", "icl_projected_gd", "IcgdTransformer"]
