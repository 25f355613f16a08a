"""What every workload's report uses: reading a results JSON, a number in a table
cell, and saving a figure."""
import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def fmt(value, spec):
    """value formatted with spec; "-" for a value that is missing (None or NaN)."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def save_figure(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_json(path, required, error, what):
    """The JSON object in path, which must hold the keys `required`; else `error`
    (an exception class) saying the file is not a `what` results file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise error(f"{path}: not a {what} results file ({e})")
    if not isinstance(data, dict) or not set(required) <= set(data):
        raise error(f"{path}: not a {what} results file (no {'/'.join(repr(k) for k in required)})")
    return data
