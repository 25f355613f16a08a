#pragma once
// lorafgc looped workload: looped linear transformers learning multi-step
// preconditioned gradient descent (Gatmiry et al., ICML 2024): task sampler,
// the layer in quadratic and linear form, exact training gradients, trainer,
// GD references.
#include <lorafgc/core.hpp>
#include <lorafgc/looped/looped_transformer.hpp>
#include <lorafgc/looped/preconditioned_gd.hpp>
#include <lorafgc/looped/regression_task.hpp>
#include <lorafgc/looped/trainer.hpp>
#include <lorafgc/looped/training_loss.hpp>
