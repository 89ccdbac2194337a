"""Helpers shared by the commands: progress reporting, the data options, threads."""
from __future__ import annotations

import io
import os


def _reporter(args):
    from ..study.progress import Reporter

    return Reporter(quiet=args.quiet)


def _check_data_args(args):
    if args.sample and args.dataset != "mnist":
        args.parser.error("--sample is the shipped MNIST sample; it cannot be used with --dataset fashion-mnist")
    if args.sample and args.data_dir:
        args.parser.error("--sample and --data-dir exclude each other (--sample uses no files)")
    if args.data_dir and not os.path.isdir(args.data_dir):  # a typo, not a reason to fall back to the sample
        args.parser.error(f"--data-dir {args.data_dir!r} is not a directory")


def _locate(args, reporter, allow_sample):
    """The DatasetSource for the data options, announcing a fall-back to the sample."""
    from ..study.data import resolve_source

    source, _ = resolve_source(args.dataset, data_dir=args.data_dir, sample=args.sample,
                               download=not args.no_download, timeout=args.download_timeout, reporter=reporter,
                               allow_sample=allow_sample)
    return source


def _load_split(source, split, rows=None):
    from .. import datasets

    loader = datasets.load_fashion_mnist if source.name == "fashion-mnist" else datasets.load_mnist
    return loader(split, source=source, rows=rows)


def _load_shard(args, reporter, comm):
    """``(source, n_images, X, y)`` for ``args.split`` where this MPI rank holds only its shard. Rank 0
    first finds (or downloads) the data and builds the array cache; then every rank reads just its rows
    from the cache, so the data is decoded once, not once per rank."""
    from ..datasets import split_length
    from ..distributed import shard_indices

    rank = comm.Get_rank()
    if rank == 0:
        source = _locate(args, reporter, allow_sample=True)
        _load_split(source, args.split, rows=slice(0, 0))  # builds the cache if it is missing or stale
    comm.Barrier()  # (an error on rank 0 aborts the job instead: see cli.main)
    if rank != 0:  # silently: rank 0 has said where the data comes from (a sample fallback note N times is noise)
        from ..study.progress import Reporter

        source = _locate(args, Reporter(quiet=True, stream=io.StringIO()), allow_sample=True)
    n_images = split_length(source, args.split)
    rows = shard_indices(n_images, args.batch_size, rank, comm.Get_size())
    return (source, n_images, *_load_split(source, args.split, rows=rows))


def _set_threads(args, comm=None):
    """--threads if given; else, under MPI (``comm``) and without OMP_NUM_THREADS, the ranks on a machine share
    its cores (distributed.threads_per_rank); else the default, all cores."""
    import fastmlp

    if getattr(args, "threads", None) is not None:
        fastmlp.set_num_threads(args.threads)
    elif comm is not None:
        from ..distributed import threads_per_rank

        share = threads_per_rank(comm)  # collective: every rank calls it, OMP_NUM_THREADS or not
        if "OMP_NUM_THREADS" not in os.environ:
            fastmlp.set_num_threads(share)


def _mpi_world():
    """MPI.COMM_WORLD when launched by ``mpiexec`` with several ranks (and mpi4py installed), else None;
    mpi4py is not imported outside an MPI launcher."""
    from ..distributed import launched_world

    return launched_world()
