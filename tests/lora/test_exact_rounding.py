"""benchmarks/lora/exact_rounding.py: exact's float32 error in auto's measure, within
its error model's envelope 2 u sqrt(L) max(1, T) on small instances of every family,
and a results file that exists refused, left as it was."""
import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("exact_rounding", os.path.join(ROOT, "benchmarks", "lora",
                                                                             "exact_rounding.py"))
exact_rounding = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exact_rounding)

GRID = ["--d", "4", "--L", "64", "300", "--T", "0.5", "8"]


def test_the_points_are_within_the_rounding_model(tmp_path):
    path = tmp_path / "errors.json"
    assert exact_rounding.main(GRID + ["--json", str(path)]) == 0
    out = json.loads(path.read_text())
    assert len(out["points"]) == 3 * 2 * 2 * 2 and out["system"]["vector_isa"]
    for p in out["points"]:
        assert 0 < p["error"] < 1e-4
        assert p["ratio"] == pytest.approx(p["error"] / (2.0 ** -24 * p["L"] ** 0.5 * max(1.0, p["T"])))
        assert p["ratio"] <= 2  # kRoundingEnvelope (lora/common/error_models.hpp)


def test_an_existing_results_file_is_refused_untouched(tmp_path):
    path = tmp_path / "errors.json"
    path.write_text("keep me")
    with pytest.raises(ValueError, match="--json"):
        exact_rounding.main(GRID + ["--json", str(path)])
    assert path.read_text() == "keep me"
