"""Run under mpirun by test_python_sequence_parallel.py: every process generates the
same instance, keeps its rows and calls lorafgc.lora.sequence_parallel_gradients over
mpi4py; rank 0 writes the largest difference from one process's gradients() to argv[1]."""
import json
import sys

import numpy

import lorafgc
from lorafgc.mpi import MpiCollectives

out_path, L, dtype, spec = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
comm = MpiCollectives()
inst = lorafgc.lora.generate(L=L, d=8, r=4, gamma=1.0, mode="full", dtype=dtype, seed=3)
start, stop = lorafgc.lora.shard_rows(L, comm.size(), comm.rank())
shard = dict(inst, X=inst["X"][start:stop], Y=inst["Y"][start:stop])
try:
    g = lorafgc.lora.sequence_parallel_gradients(**shard, algorithm=spec, comm=comm)
except ValueError as e:
    if comm.rank() == 0:
        with open(out_path, "w") as f:
            json.dump({"error": str(e)}, f)
    sys.exit(3)
if comm.rank() == 0:
    one = lorafgc.lora.gradients(**inst, algorithm=spec)
    worst = 0.0
    for key in ("q", "k", "v"):
        for got, want in zip(g[key], one[key]):
            worst = max(worst, float(numpy.abs(got - want).max() / numpy.abs(want).max()))
    with open(out_path, "w") as f:
        json.dump({"max_rel": worst, "loss": g["loss"], "loss_one": one["loss"], "info": g["info"],
                   "processes": g["info"]["processes"]}, f)
