"""lorafgc.lora.sequence_parallel_gradients from Python: under mpirun with mpi4py
(lorafgc.mpi.MpiCollectives), and with one process (comm=None). Tolerances as in
test_sequence_parallel.py: only the order of sums differs."""
import json
import os
import subprocess
import sys

import numpy
import pytest

import lorafgc

HERE = os.path.dirname(os.path.abspath(__file__))
MPIEXEC = os.environ.get("LORAFGC_MPIEXEC", "mpirun")
AS_ROOT = ["--allow-run-as-root"] if os.geteuid() == 0 else []
UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}


def launch(ranks, tmp_path, L, dtype, spec):
    out = tmp_path / "result.json"
    command = [MPIEXEC, "--oversubscribe", *AS_ROOT, "-n", str(ranks), sys.executable,
               os.path.join(HERE, "sequence_parallel_script.py"), str(out), str(L), dtype, spec]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    return result, (json.loads(out.read_text()) if out.exists() else None)


@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", ["exact", "poly-cheb:range_rows=0"])
def test_mpi4py_processes_agree_with_one_process(tmp_path, ranks, dtype, spec):
    result, found = launch(ranks, tmp_path, 301, dtype, spec)
    assert result.returncode == 0, result.stderr
    tolerance = 16 * 301 * UNIT_ROUNDOFF[dtype] + 4 * found["info"].get("eval_error", 0.0)
    assert found["processes"] == ranks and found["max_rel"] <= tolerance, found


def test_more_processes_than_rows_refused_on_every_process(tmp_path):
    result, found = launch(3, tmp_path, 2, "float64", "exact")
    assert result.returncode != 0 and "P <= L" in found["error"], (result.stderr, found)


def test_one_process_without_comm_is_gradients():
    inst = lorafgc.lora.generate(L=64, d=4, r=2, gamma=1.0, dtype="float64", seed=5)
    for spec in ("exact", "poly-cheb:range_rows=0"):
        g = lorafgc.lora.sequence_parallel_gradients(**inst, algorithm=spec)
        one = lorafgc.lora.gradients(**inst, algorithm=spec)
        assert g["loss"] == one["loss"] and g["info"]["processes"] == 1
        for key in ("q", "v"):
            for got, want in zip(g[key], one[key]):
                assert numpy.array_equal(got, want)


def test_bad_comm_and_refused_algorithms_named():
    inst = lorafgc.lora.generate(L=16, d=4, r=2, gamma=1.0, dtype="float64")
    with pytest.raises(ValueError, match="comm"):
        lorafgc.lora.sequence_parallel_gradients(**inst, comm=object())
    with pytest.raises(ValueError, match="no sequence-parallel form"):
        lorafgc.lora.sequence_parallel_gradients(**inst, algorithm="favor")
    with pytest.raises(ValueError, match="range_rows"):
        lorafgc.lora.sequence_parallel_gradients(**inst, algorithm="poly-cheb")
    assert lorafgc.lora.shard_rows(10, 3, 0) == (0, 4) and lorafgc.lora.shard_rows(10, 3, 2) == (7, 10)
    with pytest.raises(ValueError, match="rank"):
        lorafgc.lora.shard_rows(10, 3, 3)
