"""Google Benchmark JSON outputs (--benchmark_out_format=json), read once for
every report: the file's context and its measured runs, each with its name
split into parts and its real time in milliseconds."""
import json
import os
from dataclasses import dataclass

# Milliseconds per Google Benchmark time_unit (ns when the field is absent, the
# library's default).
MS_PER_UNIT = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}

# The fields Google Benchmark writes for every run; all other fields of a run
# are the benchmark's own counters.
RUN_FIELDS = {"name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
              "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit", "aggregate_name",
              "aggregate_unit", "label", "error_occurred", "error_message", "skipped", "skip_message"}


class GbenchError(ValueError):
    pass


@dataclass(frozen=True)
class Run:
    name: str  # "looped_forward_pass/linear/d:10/n:16/T:1"
    segments: tuple  # the name split at "/": ("looped_forward_pass", "linear", "d:10", "n:16", "T:1")
    parts: dict  # the key:value segments after the first, values as written: {"d": "10", "n": "16", "T": "1"}
    real_time_ms: float
    counters: dict  # {"GFLOPs": 8.15, ...}


@dataclass(frozen=True)
class BenchmarkFile:
    path: str
    context: dict
    runs: list  # of Run, in file order

    @property
    def stem(self):
        """The file name without folder and extension ("bench_looped")."""
        return os.path.splitext(os.path.basename(self.path))[0]


def _run(record, path):
    segments = tuple(record["name"].split("/"))
    # The first segment is the benchmark's family, which may itself hold a colon
    # (an algorithm spec such as "exact:schedule=stream").
    parts = dict(segment.split(":", 1) for segment in segments[1:] if ":" in segment)
    unit = record.get("time_unit", "ns")
    if unit not in MS_PER_UNIT:
        raise GbenchError(f"{path}: {record['name']}: unknown time_unit {unit!r} (known: {sorted(MS_PER_UNIT)})")
    counters = {k: v for k, v in record.items() if k not in RUN_FIELDS}
    return Run(record["name"], segments, parts, record["real_time"] * MS_PER_UNIT[unit], counters)


def load(path):
    """The runs of one output file; aggregates (mean, median, stddev, ... over
    --benchmark_repetitions) are left out, every report tabulates single runs."""
    with open(path) as f:
        data = json.load(f)
    runs = [_run(r, path) for r in data.get("benchmarks", []) if r.get("run_type") != "aggregate"]
    return BenchmarkFile(path, data.get("context", {}), runs)


def context_line(bench):
    """The file's name, the CPU (files written since the benchmarks record it),
    and the BLAS, thread counts and date it was measured with."""
    c = bench.context
    cpu = f"{c['cpu']} ({c.get('vector_isa', '?')}); " if "cpu" in c else ""
    return (f"`{os.path.basename(bench.path)}`: {cpu}{c.get('blas_config', '?')}; threads: OpenMP "
            f"{c.get('omp_threads', '?')}, BLAS {c.get('blas_threads', '?')}; "
            f"OPENBLAS_CORETYPE={c.get('OPENBLAS_CORETYPE', '?')}; {c.get('date', '?')}")
