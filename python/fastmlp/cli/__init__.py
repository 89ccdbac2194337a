"""The ``fastmlp`` command (also ``python -m fastmlp``).

Subcommands::

    fastmlp study     [--quick] [--sample] [--part all|features|parity|approximation] [--out DIR] ...
    fastmlp sweep     [--quick] [--sample] [--hidden 64,196] [--sparsity-weight 0,0.1,1] [--jobs 2] ...
    fastmlp train     --model softmax|mlp|autoencoder|sparse-autoencoder [--out model.npz] ...
    fastmlp evaluate  MODEL.npz [--split test] ...
    fastmlp info

Errors are one line on stderr (``--debug`` shows the traceback instead); the exit code is 1 for errors
while running and 2 for bad arguments. Progress goes to stderr (tqdm bars when tqdm is installed),
results to stdout; ``--quiet`` turns progress off.
"""
from __future__ import annotations

import sys
import traceback

from .errors import _one_line
from .parser import PROG, build_parser

__all__ = ["main", "build_parser"]


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
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line (or a traceback with --debug)
        if getattr(args, "debug", False):
            traceback.print_exc()
        else:
            print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        if restore_threads is not None:
            import fastmlp

            fastmlp.set_num_threads(restore_threads)
