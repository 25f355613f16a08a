"""Collectives over mpi4py for lorafgc.lora.sequence_parallel_gradients (docs/sequence-parallel.md).

    from lorafgc.mpi import MpiCollectives
    comm = MpiCollectives()                  # MPI.COMM_WORLD, or MpiCollectives(some_communicator)
    start, stop = lorafgc.lora.shard_rows(L, comm.size(), comm.rank())
    g = lorafgc.lora.sequence_parallel_gradients(X=X[start:stop], Y=Y[start:stop], Wq=..., comm=comm)

mpi4py (Debian's python3-mpi4py) is imported only here. The library calls back with
numpy views of its own buffers: sum and max combine them in place, gather_all fills `all`.
"""
import numpy

from .lora import Collectives


class MpiCollectives(Collectives):
    def __init__(self, comm=None):
        Collectives.__init__(self)
        from mpi4py import MPI
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm

    def rank(self):
        return self.comm.Get_rank()

    def size(self):
        return self.comm.Get_size()

    def sum(self, values):
        self.comm.Allreduce(self._MPI.IN_PLACE, values, op=self._MPI.SUM)

    def max(self, values):
        self.comm.Allreduce(self._MPI.IN_PLACE, values, op=self._MPI.MAX)

    def gather_all(self, mine, all, counts):
        offsets = numpy.concatenate(([0], numpy.cumsum(counts)[:-1])).astype(numpy.int64)
        self.comm.Allgatherv(mine, [all, counts.astype(numpy.int64), offsets, self._MPI.BYTE])
