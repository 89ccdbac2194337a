"""Data-parallel training over MPI (mpi4py): every rank holds one shard of the training data and a full
copy of the network; after every backward pass the flat gradient is summed over the ranks with one
``MPI_Allreduce`` (in place, zero-copy) and divided by the number of ranks, so every rank takes the same
optimizer step and the parameters stay the same everywhere.

Install with ``pip install fastmlp[mpi]`` (mpi4py and MPICH from PyPI) and launch with
``mpiexec -n 4 python train.py``. mpi4py is imported only when one of these functions is called.

Batches. ``batch_size`` below is the *per-rank* batch b; the global batch is ``B = b·N`` for N ranks.
:func:`shard` lays the samples out so that, with ``shuffle=False``, step g of an epoch on N ranks sees
exactly the B samples that step g of a single process with batch B sees: rank r of global batch g holds
rows ``g·B + r·b + i`` (i < b). The last, partial global batch of L samples is split in N equal parts
(L/N rows each); the last ``n mod N`` samples (at most N−1) are left out so that every rank has the same
number of samples and hence of mini-batches (a rank with one step fewer would leave the others waiting
in the allreduce). The gradient of a batch being the mean over its samples, the mean over the ranks of
their local means is the global batch's gradient: N-rank training equals single-process training on
``X[:n - n mod N]`` with batch B up to floating-point round-off (the summation order differs).
This holds for every loss whose gradient is a mean over samples, plus weight decay; the sparse
autoencoder's KL penalty depends on the batch-mean activation, so there it holds only approximately.

Shuffling. Each rank shuffles its own shard every epoch with the network's seeded shuffle — the same seed
on every rank (the estimators broadcast rank 0's seeds) — so an epoch still uses every sample exactly
once, but a global batch then mixes N random local batches instead of being a random batch of a single
process's permutation: with ``shuffle=True`` the trajectory differs from the single-process one (it is
as good statistically, but not equal). Equality with one process holds for ``shuffle=False``.

Parameters stay identical across ranks because every rank applies the same averaged gradient; this relies
on the MPI library returning the same allreduce result on every rank (MPICH and Open MPI do for
floating-point sums with their default algorithms, but MPI does not strictly guarantee it);
:func:`broadcast_parameters` resynchronises from one rank if in doubt.
"""
from __future__ import annotations

import inspect
import operator
import os

import numpy as np

#: Environment variables set by common MPI launchers (MPICH/Hydra, Intel MPI, Open MPI, PMIx, Slurm's PMI).
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def _mpi():
    """The ``mpi4py.MPI`` module, imported on first use."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError("data-parallel training needs mpi4py and an MPI library: "
                          "pip install fastmlp[mpi]") from exc
    return MPI


def launched_world():
    """``MPI.COMM_WORLD`` if this process was started by an MPI launcher with more than one rank and mpi4py
    is installed, else None. mpi4py (and MPI) is not even imported unless a launcher's environment
    variables are present, so a plain ``python`` run never initialises MPI."""
    if not any(name in os.environ for name in _LAUNCHER_VARIABLES):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    world = MPI.COMM_WORLD
    return world if world.Get_size() > 1 else None


def threads_per_rank(comm):
    """The threads each rank should use so that the ranks on one machine share its cores rather than each
    taking all of them: the cores this process may run on, divided by the ranks on this machine (at least 1).
    A launcher that pinned the rank to fewer cores than the machine has decides alone (its pinning is the
    share). On 2 cores, ``mpiexec -n 2 fastmlp train --model mlp --hidden 256 --sample --epochs 3`` took 0.5 s
    with one thread per rank and 5.0 s with two."""
    node = comm.Split_type(_mpi().COMM_TYPE_SHARED)  # collective: called on every rank before any decision
    on_this_machine = node.Get_size()
    node.Free()
    cores = os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return max(1, allowed if allowed < cores else allowed // on_this_machine)


def shard_indices(n_samples, batch_size, rank, size):
    """The rows of ``n_samples`` that rank ``rank`` of ``size`` trains on, for a per-rank batch
    ``batch_size`` (global batch ``batch_size·size``); see the module docstring for the layout.
    Every rank gets the same number of rows; the last ``n_samples mod size`` rows go to nobody."""
    try:  # operator.index: a float batch size (64.5) is refused, not truncated
        n_samples, b, rank, size = (operator.index(v) for v in (n_samples, batch_size, rank, size))
    except TypeError:
        raise TypeError(f"n_samples, batch_size, rank and size must be integers, got {n_samples!r}, "
                        f"{batch_size!r}, {rank!r}, {size!r}") from None
    if b < 1 or size < 1 or not 0 <= rank < size:
        raise ValueError(f"need batch_size >= 1 and 0 <= rank < size, got {batch_size}, {rank}, {size}")
    n_used = n_samples - n_samples % size
    if n_used < size:
        raise ValueError(f"{n_samples} samples cannot be shared by {size} ranks (at least one each)")
    global_batch = b * size
    n_full, tail = divmod(n_used, global_batch)
    full = (np.arange(n_full)[:, None] * global_batch + rank * b + np.arange(b)[None, :]).reshape(-1)
    per_rank_tail = tail // size
    last = n_full * global_batch + rank * per_rank_tail + np.arange(per_rank_tail)
    return np.concatenate([full, last]).astype(np.intp)


def shard(X, y, comm, batch_size):
    """This rank's shard ``(X[rows], y[rows])`` (copies; ``y`` may be None) for the per-rank batch
    ``batch_size``. Only the shard's rows are read, so ``X`` may be a memory-mapped array
    (``np.load(path, mmap_mode="r")``) that would not fit in memory whole."""
    rows = shard_indices(len(X), batch_size, comm.Get_rank(), comm.Get_size())
    return np.ascontiguousarray(X[rows]), None if y is None else np.ascontiguousarray(np.asarray(y)[rows])


def allreduce_gradients_hook(comm):
    """A ``gradient_hook`` for :meth:`fastmlp.Network.train_epoch`: sums the flat gradient buffer (float32
    or float64) over ``comm`` in place with one ``Allreduce`` and divides it by the number of ranks."""
    MPI = _mpi()
    size = comm.Get_size()

    def average_gradients(grad):
        comm.Allreduce(MPI.IN_PLACE, grad, op=MPI.SUM)
        if size > 1:
            grad /= size

    return average_gradients


def global_mean_loss(loss, n_samples, comm):
    """The mean over all ranks' samples of a per-rank mean ``loss`` over ``n_samples`` (one allreduce)."""
    MPI = _mpi()
    totals = np.array([float(loss) * n_samples, float(n_samples)])
    comm.Allreduce(MPI.IN_PLACE, totals, op=MPI.SUM)
    return float(totals[0] / totals[1])


def check_agreement(comm, **values):
    """ValueError, raised on every rank alike (one ``allgather``), unless every rank passed equal ``values``:
    ranks that disagree on the data's shape, the dtype, the batch size or the network would otherwise take
    different numbers of steps or reduce buffers of different lengths (an MPI error, a hang or wrong sums)."""
    gathered = comm.allgather(values)
    differing = [name for name in values if any(other.get(name) != gathered[0].get(name) for other in gathered)]
    if differing:
        per_rank = "; ".join(f"{name}: " + ", ".join(f"rank {rank} {other.get(name)!r}"
                                                     for rank, other in enumerate(gathered))
                             for name in differing)
        raise ValueError(f"data-parallel training needs the same {', '.join(differing)} on every rank; got "
                         f"{per_rank}" + (" (use fastmlp.distributed.shard)" if "samples" in differing else ""))


def broadcast_parameters(network, comm, root=0):
    """Copy ``root``'s parameters to the network of every rank (one ``Bcast``)."""
    theta = network.get_flat()
    comm.Bcast(theta, root=root)
    network.set_flat(theta)


def raise_on_every_rank(comm, error, what="refused its arguments", error_class=None):
    """Collective (one ``allgather``): if any rank passes an exception, every rank raises: that rank its own, the
    others an ``error_class`` (by default a ValueError, or TypeError if it was one) naming the rank, ``what``
    it did and its message. So one rank's bad input or failed step stops the job on every rank instead of
    leaving the others waiting in the next allreduce."""
    gathered = comm.allgather(None if error is None else (type(error).__name__, str(error)))
    if error is not None:
        raise error
    failed = [(rank, entry) for rank, entry in enumerate(gathered) if entry is not None]
    if failed:
        rank, (kind, text) = failed[0]
        cls = error_class or (TypeError if kind == "TypeError" else ValueError)
        raise cls(f"rank {rank} of the data-parallel job {what} ({kind}: {text})")


def stop_together(comm, decide):
    """Collective: ``decide()`` on every rank (its end-of-epoch callbacks), then the same answer everywhere:
    stop if any rank's said so; if one rank's raised, it raises that and every other rank a RuntimeError
    naming it. Otherwise a callback that stops (or fails on) one rank would leave the others waiting in the
    next epoch's allreduce."""
    stop, error = False, None
    try:
        stop = bool(decide())
    except BaseException as exc:  # noqa: BLE001 - raised on every rank by raise_on_every_rank (this rank: as is,
        error = exc               # KeyboardInterrupt and SystemExit included)
    raise_on_every_rank(comm, error, what="failed at the end of an epoch", error_class=RuntimeError)
    return comm.allreduce(int(stop)) > 0


def train_epoch(network, X, Y, batch_size, comm, **options):
    """One data-parallel epoch of :meth:`fastmlp.Network.train_epoch` on this rank's shard (X, Y) with
    per-rank ``batch_size``; returns the loss averaged over all ranks' samples. ``options`` are passed on
    (optimizer, learning_rate, shuffle, ...). Before training, collectively: every rank's arguments are
    checked (a rank's TypeError/ValueError is raised on every rank), then the ranks must agree on the number
    of samples and features, the targets' shape, the batch size, the network and the options (ValueError
    on every rank alike otherwise). A divergence (NaN/inf loss) on any rank raises FloatingPointError on
    every rank at the same mini-batch (the diverging rank reduces a NaN gradient)."""
    try:  # train_epoch's own defaults for the options not given (its signature is where they are defined)
        defaults = {name: p.default for name, p in inspect.signature(network.train_epoch).parameters.items()
                    if p.default is not inspect.Parameter.empty and name != "gradient_hook"}
        epoch = network._epoch_arguments(X, Y, batch_size, gradient_hook=allreduce_gradients_hook(comm),
                                         **{**defaults, **options})
        error = None
    except (TypeError, ValueError) as exc:
        epoch, error = None, exc
    raise_on_every_rank(comm, error)
    X, Y, batch = epoch[:3]  # converted: the network's dtype, C-contiguous; batch at most the samples
    check_agreement(comm, samples=X.shape[0], features=X.shape[1:], targets=Y.shape[1:], batch_size=batch,
                    network=repr(network), options=epoch[3:-1])
    return global_mean_loss(network._run_epoch(epoch), len(X), comm)
