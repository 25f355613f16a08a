"""Reading sweep results (JSON Lines written by lorafgc-sweep)."""
import json


class ResultsError(ValueError):
    pass


def load_results(path):
    """Returns (header, points). Torn lines (a sweep killed mid-write) are skipped."""
    header, points = None, []
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError as e:
        raise ResultsError(f"results: cannot read {path}: {e}") from e
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("type") == "header":
            if header is not None:
                raise ResultsError(f"results: {path}:{number} holds a second header")
            header = record
        elif record.get("type") == "point":
            points.append(record)
    if header is None:
        raise ResultsError(f"results: {path} has no lorafgc-sweep header line")
    return header, points


def point_key(p):
    return (p["algorithm"], p["mode"], p["dtype"], p["L"], p["d"], p["r"], p["norm_axis"], p["norm"])


def is_exact(p):
    return p["name"].startswith("exact")


def succeeded(p, target_error):
    """An approximate point counts when it ran and, where measured, met the target."""
    if p.get("status") != "ok":
        return False
    err = p.get("error")
    return err is None or err["max_rel"] <= target_error
