"""The cost model's predicted time of a sweep point, from the counts the point
records (`cost`: flops, exps, bytes, flop_kind) and the rates its results header
records (`machine.calibration[dtype]`, and `machine.algorithm_calibration` per
algorithm, d, r, mode and dtype where the file has it). The same roofline as the library's
lorafgc::lora::predicted_seconds (algorithms/src/lora/common/machine_rates.cpp),
checked against it by tests/lora/test_sweep_and_report.py; docs/cost-model.md."""
import math


def calibration(header, dtype):
    """The header's rates for dtype, or None (files written before the cost model)."""
    return header.get("machine", {}).get("calibration", {}).get(dtype)


def predicted_seconds(cost, rates):
    """max(flops / rate of their kind + exps / exp rate, bytes / bandwidth), gathered
    flops weighted as the record says (cost_model.hpp); None when a count is unknown."""
    if not cost or not rates or any(cost.get(k) is None for k in ("flops", "exps", "bytes")):
        return None
    flop_rate = rates["thin_gemm_flops_per_s"] if cost["flop_kind"] == "thin_gemm" else rates["gemm_flops_per_s"]
    flops = cost["flops"] + (cost.get("gathered_flop_weight", 1) - 1) * (cost.get("gathered_flops") or 0)
    compute = flops / flop_rate + cost["exps"] / rates["exp_per_s"]
    return max(compute, cost["bytes"] / rates["bytes_per_s"])


def algorithm_calibration(header, point):
    """The header's calibration of the point's (algorithm, d, r, mode, dtype), or None."""
    key = f"{point['algorithm']}|d={point['d']}|r={point['r']}|{point['mode']}|{point['dtype']}"
    found = header.get("machine", {}).get("algorithm_calibration", {}).get(key)
    return found if found and "efficiency" in found else None  # not one that was refused


def calibrated_seconds(cost, rates, calibrated):
    """The limit / efficiency + per-call + per-row overheads (lorafgc::lora::predicted_seconds
    with an AlgorithmCalibration)."""
    limit = predicted_seconds(cost, rates)
    if limit is None or not calibrated:
        return limit
    return (limit / calibrated["efficiency"] + calibrated["seconds_per_call"]
            + calibrated["seconds_per_row"] * cost.get("rows", 0))


def point_prediction(point, header, limit_only=False):
    """The predicted time of a point that ran (its cost at the plan it ran): calibrated
    for its algorithm when the header has that, else (or with limit_only) the limit."""
    if point.get("status") != "ok":
        return None
    rates = calibration(header, point["dtype"])
    cal = None if limit_only else algorithm_calibration(header, point)
    if cal is None and not limit_only and header.get("machine", {}).get("algorithm_calibration"):
        return None  # calibrated file, this algorithm's calibration refused: no mixing with limits
    t = calibrated_seconds(point.get("cost"), rates, cal)
    return t if t is not None and math.isfinite(t) and t > 0 else None
