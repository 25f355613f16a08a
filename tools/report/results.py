"""Reading sweep results (JSON Lines written by lorafgc-sweep)."""
import json


class ResultsError(ValueError):
    pass


# The legacy rule. Every point record lorafgc-sweep writes now carries the
# registry's flags: "exact" (the algorithm computes the gradient exactly up to
# rounding) and "oracle" (the O(L^2)-memory reference that the others are tested
# against, not a contender in speed comparisons). Records written before that
# (format lorafgc-sweep/1 without the keys, e.g. reports/reference/results.jsonl)
# take the flags of their algorithm name from this table: the names that existed
# when such files were written. It is fixed: a newer algorithm always writes its flags.
LEGACY_FLAGS = {
    "exact-reference": {"exact": True, "oracle": True},
    "exact": {"exact": True, "oracle": False},
    "poly-cheb": {"exact": False, "oracle": False},
    "poly-taylor": {"exact": False, "oracle": False},
}


def _with_flags(point, where):
    """The point with its "exact" and "oracle" flags: its own, or by the legacy rule."""
    if "exact" in point and "oracle" in point:
        return point
    legacy = LEGACY_FLAGS.get(point.get("name"))
    if legacy is None:
        raise ResultsError(f"results: {where}: point of algorithm {point.get('name')!r} has no 'exact'/'oracle' "
                           f"flags, and the legacy rule knows only {sorted(LEGACY_FLAGS)}")
    return {**legacy, **point}


def load_results(path):
    """Returns (header, points), every point with its "exact" and "oracle" flags.
    Torn lines (a sweep killed mid-write) and lines that are not JSON objects are
    skipped; a point recorded twice is an error (ResultsError)."""
    header, points = None, []
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError as e:
        raise ResultsError(f"results: cannot read {path}: {e}") from e
    seen = {}
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if not isinstance(record, dict):
            continue
        if record.get("type") == "header":
            if header is not None:
                raise ResultsError(f"results: {path}:{number} holds a second header")
            header = record
        elif record.get("type") == "point":
            point = _with_flags(record, f"{path}:{number}")
            key = _identity(point)
            if key in seen:
                raise ResultsError(f"results: {path}: the point {key} appears twice (lines {seen[key]} and {number}); "
                                   "two sweeps wrote this file at once")
            seen[key] = number
            points.append(point)
    if header is None:
        raise ResultsError(f"results: {path} has no lorafgc-sweep header line")
    return header, points


def _identity(p):
    """What makes a point one measurement (point_key, if the record has its fields)."""
    try:
        return point_key(p)
    except KeyError:
        return json.dumps(p, sort_keys=True)


def point_key(p):
    return (p["algorithm"], p["mode"], p["dtype"], p["L"], p["d"], p["r"], p["norm_axis"], p["norm"])


def is_exact(p):
    """The algorithm computes the gradient exactly up to rounding (its registry flag)."""
    return p["exact"]


def is_oracle(p):
    """The literal O(L^2)-memory reference: exact, but no contender for speed."""
    return p["oracle"]


def is_selector(p):
    """It runs one of the other algorithms per call (auto): compared against them, not beside them."""
    return p.get("selector", False)


def succeeded(p, target_error):
    """An approximate point counts when it ran and, where measured, met the target."""
    if p.get("status") != "ok":
        return False
    err = p.get("error")
    return err is None or err["max_rel"] <= target_error
