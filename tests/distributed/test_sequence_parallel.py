"""lorafgc-seqpar under mpirun (lorafgc/lora/sequence_parallel.hpp): exact and the
polynomial method on X and Y sharded by rows agree with one process on the whole
problem, for L not divisible by P; exact's bytes grow with L and the polynomial
method's do not; bad launches are refused by rank 0 with every rank exiting
non-zero. ctest passes the binaries (LORAFGC_SEQPAR, LORAFGC_MPIEXEC)."""
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEQPAR = os.environ.get("LORAFGC_SEQPAR", os.path.join(ROOT, "build/release/tools/lorafgc-seqpar"))
MPIEXEC = os.environ.get("LORAFGC_MPIEXEC", "mpirun")
AS_ROOT = ["--allow-run-as-root"] if os.geteuid() == 0 else []
UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}


def seqpar(ranks, *args, timeout=300):
    command = [MPIEXEC, "--oversubscribe", *AS_ROOT, "-n", str(ranks), SEQPAR, "--repeat", "1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def records(ranks, tmp_path, *args):
    out = tmp_path / f"seqpar-{ranks}.jsonl"
    result = seqpar(ranks, "--json", str(out), *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def tolerance(record):
    """What reordering the sums may change, relative to max|G|. exact: every entry is
    a sum of O(L) products, reordered across processes: c L u (the registry's own
    allowance for exact against exact-reference, which is 1e-12 / 1e-4 at L <= 1024).
    The polynomial method also sums features whose terms cancel: its rounding
    allowance eval_error bounds that relative error of each exp entry, so the
    gradients may move by a few times it (plus L u from the sums)."""
    L, u = record["L"], UNIT_ROUNDOFF[record["dtype"]]
    rounding = 16 * L * u
    if record["algorithm"].startswith("poly"):
        return 4 * record["info"]["eval_error"] + rounding
    return rounding


@pytest.mark.parametrize("ranks", [2, 3, 4])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", ["partial", "full"])
def test_agrees_with_one_process(tmp_path, ranks, dtype, mode):
    # L = 1001 = 7 11 13: no rank count divides it, so the shards differ in size.
    found = records(ranks, tmp_path, "--L", "1001", "--d", "8", "--r", "4", "--T", "2", "--dtype", dtype,
                    "--mode", mode, "--check", "--algorithms", "exact", "exact:schedule=panel",
                    "poly-cheb:range_rows=0", "poly-taylor:range_rows=0")
    assert [r["spec"] for r in found] == ["exact", "exact:schedule=panel", "poly-cheb:range_rows=0",
                                          "poly-taylor:range_rows=0"]
    for r in found:
        assert r["processes"] == ranks and len(r["bytes_sent"]) == ranks
        assert r["check_max_rel"] <= tolerance(r), (r["spec"], r["check_max_rel"], tolerance(r))
        assert r["machine"]["vector_isa"] and r["machine"]["cpu"]


def bytes_by_length(tmp_path, spec, lengths):
    out = {}
    for L in lengths:
        r = records(2, tmp_path, "--L", str(L), "--d", "8", "--r", "4", "--T", "1", "--algorithms", spec)[-1]
        out[L] = (max(r["bytes_sent"]), max(r["bytes_received"]))
    return out


def test_exact_bytes_grow_with_L_and_the_polynomials_do_not(tmp_path):
    exact = bytes_by_length(tmp_path, "exact", [512, 1024, 2048])
    # Gathering X: each process receives the other's (L / 2) d float64 values.
    for L, (_, received) in exact.items():
        assert received >= L / 2 * 8 * 8
    assert exact[2048][1] > 1.9 * exact[1024][1] > 3.6 * exact[512][1]
    poly = bytes_by_length(tmp_path, "poly-cheb:range_rows=0,degree=3", [512, 1024, 2048])
    assert len(set(poly.values())) == 1, poly


def test_more_processes_than_rows_refused_by_rank_0(tmp_path):
    result = seqpar(3, "--L", "2", "--d", "4", "--r", "2")
    assert result.returncode != 0
    assert result.stderr.count("error:") == 1 and "P <= L" in result.stderr, result.stderr


@pytest.mark.parametrize("spec, named", [("favor", "no sequence-parallel form"),
                                         ("poly-hybrid", "poly-hybrid has no sequence-parallel form"),
                                         ("poly-cheb", "range_rows")])
def test_algorithms_without_a_sequence_parallel_form_refused(tmp_path, spec, named):
    out = tmp_path / "kept.jsonl"
    out.write_text('{"kept": true}\n')
    result = seqpar(2, "--L", "64", "--d", "4", "--r", "2", "--json", str(out), "--algorithms", "exact", spec)
    assert result.returncode != 0 and named in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1
    kept, *rest = out.read_text().splitlines()  # appended to, never rewritten
    assert kept == '{"kept": true}' and len(rest) == 1 and json.loads(rest[0])["spec"] == "exact"


def test_a_results_file_that_cannot_be_appended_to_is_refused_before_running(tmp_path):
    result = seqpar(2, "--L", "64", "--d", "4", "--r", "2", "--json", str(tmp_path))  # a directory
    assert result.returncode != 0 and "--json" in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1
