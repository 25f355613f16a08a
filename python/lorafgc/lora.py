"""LoRA attention gradients: exact and approximate algorithms from one registry.

    inst = lorafgc.lora.generate(L=4096, d=64, r=8, gamma=1.0, dtype="float32")
    g = lorafgc.lora.gradients(**inst, algorithm="exact")   # or "poly-cheb:eps=1e-3"
    lorafgc.lora.algorithms()                                # names, options, exact/oracle flags
    lorafgc.lora.check_spec("poly-cheb:eps=1e-3")            # ValueError naming a bad name, option or value
    lorafgc.lora.score_range(**inst)                         # T_cauchy_schwarz, T_centred, T_used
    lorafgc.lora.kernel_target()                             # SIMD target of the dispatched kernels
    lorafgc.lora.predict("exact", L=16384, d=8, r=8)         # the cost model's time (docs/cost-model.md)
    lorafgc.lora.plan(inst, target_error=1e-3)               # what auto would run, and why (docs/auto.md)
    out, lse, info = lorafgc.lora.attention_forward(q, k, v, causal=True)   # (batch, heads, L, head_dim) arrays
    dq, dk, dv, info = lorafgc.lora.attention_backward(q, k, v, out, lse, d_out, causal=True)
                                                             # docs/attention-backend.md; lorafgc.torch wraps them
    start, stop = lorafgc.lora.shard_rows(L, P, rank)        # under mpirun: this process's rows, then
    g = lorafgc.lora.sequence_parallel_gradients(X=X[start:stop], Y=Y[start:stop], ..., comm=lorafgc.mpi.MpiCollectives())
                                                             # docs/sequence-parallel.md
"""
from ._lorafgc.lora import (Collectives, algorithms, attention_backward, attention_forward, calibrate,
                            calibrate_algorithm, check_spec, cost, generate, gradients, kernel_target, plan_instance,
                            plan_shape, predicted_seconds, score_range, sequence_parallel_gradients, shard_rows)

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


def plan(instance=None, target_error=1e-3, *, L=None, d=None, r=4, mode="partial", batch=1, dtype="float32",
         T=None, margin=1.0, threads=0, calibrated=True):
    """What `auto` would run for `target_error` (max_rel of the gradients), without running.

    instance: a generate() dict (or the keyword arguments of gradients()); or
    none, and a shape: L, d, r, mode, batch, dtype and T (the score bound
    T = |beta| max||Q_i|| max||K_j||, which sets the polynomial's degree on a
    shape; poly-hybrid needs an instance). Returns {'rows': one dict per
    algorithm with an error model (algorithm, spec, expected_error, reason,
    predicted_seconds, calibrated, at_least, flops, exps, costing_seconds; at_least True: the
    row was not costed on the instance, as a lower bound on its time already
    exceeded the chosen one's less costing_seconds, what costing it took before
    on this shape, and predicted_seconds is that bound), 'chosen': the spec auto would
    run or None, 'closest', 'message' (why none meets the target), ...}.
    margin >= 1 asks the error models for target_error / margin. Calibrations
    (about 2 s per width, rank, mode and dtype) are measured once per process.
    """
    options = dict(target_error=target_error, margin=margin, threads=threads, calibrated=calibrated)
    if instance is not None:
        if not isinstance(instance, dict):
            raise ValueError("instance: expected a generate() dict, got " + type(instance).__name__)
        fields = {k: instance[k] for k in ("X", "Wq", "Wk", "Wv", "Y", "adapters", "alpha") if k in instance}
        return plan_instance(**fields, beta=instance.get("beta", 1.0), **options)
    if L is None or d is None or T is None:
        raise ValueError("instance: give an instance, or the shape's L, d and T")
    return plan_shape(L, d, r, mode, batch, dtype, T, **options)


__all__ = ["Collectives", "sequence_parallel_gradients", "shard_rows", "gradients", "generate", "algorithms", "score_range", "kernel_target", "calibrate", "cost",
           "predicted_seconds", "calibrate_algorithm", "predict", "plan"]
