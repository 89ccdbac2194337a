"""The ``fastmlp`` command (also ``python -m fastmlp``).

Subcommands::

    fastmlp study     [--quick] [--sample] [--part all|features|parity|approximation] [--out DIR] ...
    fastmlp sweep     [--quick] [--sample] [--hidden 64,196] [--sparsity-weight 0,0.1,1] [--jobs 2] ...
    fastmlp train     --model softmax|mlp|autoencoder|sparse-autoencoder [--out model.npz] ...
    fastmlp evaluate  MODEL.npz [--split test] ...
    fastmlp info

Errors are one line on stderr (``--debug`` shows the traceback instead); the exit code is 1 for errors
while running and 2 for bad arguments. Under ``mpiexec`` an error on one rank aborts the whole MPI job
(the other ranks would otherwise wait forever in the next collective call). Progress goes to stderr (tqdm bars when tqdm is installed),
results to stdout; ``--quiet`` turns progress off.
"""
from __future__ import annotations

import sys
import time
import traceback

from .errors import _one_line
from .parser import PROG, build_parser

__all__ = ["main", "build_parser"]


def _abort_other_ranks(code):
    """Under mpiexec with several ranks, end the whole MPI job with ``code``: the other ranks may be
    waiting in a collective call (allreduce, barrier) that this rank will never join. mpi4py's own
    ``python -m mpi4py`` runner does the same for uncaught exceptions. Nothing happens outside MPI."""
    MPI = sys.modules.get("mpi4py.MPI")  # never imported here: only if a command already uses MPI
    if MPI is not None and MPI.Is_initialized() and not MPI.Is_finalized() and MPI.COMM_WORLD.Get_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        # mpiexec relays each rank's output through its launcher, which Abort kills with the ranks: a moment's
        # pause lets this rank's error line through first (on a loaded machine it was lost without one).
        time.sleep(0.5)
        MPI.COMM_WORLD.Abort(code)


def main(argv=None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (code 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    restore_threads = None
    try:
        if getattr(args, "threads", None) is not None:  # restored afterwards, for callers of main() in-process
            import fastmlp

            restore_threads = fastmlp.get_num_threads()
        return int(args.handler(args, argv) or 0)
    except SystemExit as exc:  # an argument check inside a command (parser.error)
        return exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        _abort_other_ranks(130)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line (or a traceback with --debug)
        if getattr(args, "debug", False):
            traceback.print_exc()
        else:
            print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        _abort_other_ranks(1)
        return 1
    finally:
        if restore_threads is not None:
            import fastmlp

            fastmlp.set_num_threads(restore_threads)
