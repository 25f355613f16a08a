"""LoRA attention gradients: exact and approximate algorithms from one registry.

    inst = lorafgc.lora.generate(L=4096, d=64, r=8, gamma=1.0, dtype="float32")
    g = lorafgc.lora.gradients(**inst, algorithm="exact")   # or "poly-cheb:eps=1e-3"
    lorafgc.lora.algorithms()                                # names, options, exact/oracle flags
    lorafgc.lora.score_range(**inst)                         # T_cauchy_schwarz, T_centred, T_used
    lorafgc.lora.kernel_target()                             # SIMD target of the dispatched kernels
    lorafgc.lora.predict("exact", L=16384, d=8, r=8)         # the cost model's time (docs/cost-model.md)
"""
from ._lorafgc.lora import (algorithms, calibrate, calibrate_algorithm, cost, generate, gradients, kernel_target,
                            predicted_seconds, score_range)

_rates = {}


_calibrations = {}


def predict(algorithm, L, d, r=4, mode="partial", batch=1, dtype="float32", T=None, rates=None, threads=0,
            calibrated=False):
    """The cost model's predicted time of one algorithm spec on a shape.

    Returns cost(...)'s counts (flops, exps, bytes, flop_kind, rows) with `seconds`
    (the limit: this machine's rates, no overheads) and the `rates` used. With
    calibrated=True also `calibrated_seconds`: the algorithm timed on 5-7
    calibration shapes of this d, r and mode (efficiency, per-call and per-row
    overheads; in `calibration`). Rates and calibrations are measured once per
    process. The polynomial method needs T, the score range its degree follows
    (info["T_used"] of a run, or score_range()'s T_used), or a fixed degree.
    """
    counts = cost(algorithm, L, d, r, mode, batch, dtype, T)
    if rates is None:
        key = (dtype, threads)
        if key not in _rates:
            _rates[key] = calibrate(dtype, threads)
        rates = _rates[key]
    out = dict(counts, seconds=predicted_seconds(counts, rates), rates=rates)
    if calibrated:
        key = (algorithm, d, r, mode, dtype, tuple(sorted(rates.items())))
        if key not in _calibrations:
            _calibrations[key] = calibrate_algorithm(algorithm, d, r, mode, dtype, rates)
        out["calibration"] = _calibrations[key]
        out["calibrated_seconds"] = predicted_seconds(counts, rates, out["calibration"])
    return out


__all__ = ["gradients", "generate", "algorithms", "score_range", "kernel_target", "calibrate", "cost",
           "predicted_seconds", "calibrate_algorithm", "predict"]
