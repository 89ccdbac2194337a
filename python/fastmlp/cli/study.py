"""``fastmlp study``: run the study and print its final accuracies and verdicts."""
from __future__ import annotations

import importlib.util
import os
import shlex
import time

from .common import _check_data_args, _reporter
from .errors import CommandError
from .parser import PROG


def _cmd_study(args, argv):
    from ..study import QUICK, StudyConfig, run_study
    from ..study.figures import MATPLOTLIB_MISSING

    _check_data_args(args)
    if importlib.util.find_spec("matplotlib") is None:
        raise CommandError(MATPLOTLIB_MISSING)
    quick_epochs = QUICK["epochs"] if args.quick else StudyConfig.epochs
    config = StudyConfig(
        dataset=args.dataset, data_dir=args.data_dir, sample=args.sample, download=not args.no_download,
        download_timeout=args.download_timeout, epochs=args.epochs or quick_epochs,
        ae_epochs=args.ae_epochs or (QUICK["ae_epochs"] if args.quick and not args.epochs else None),
        hidden=args.hidden, sparsity_weight=args.sparsity_weight, sparsity_target=args.sparsity_target,
        ae_weight_decay=args.ae_weight_decay, batch_size=args.batch_size, seed=args.seed, threads=args.threads,
        quick=args.quick)
    reporter = _reporter(args)
    started = time.perf_counter()
    results = run_study(config, args.out, part=args.part, reporter=reporter,
                        command=shlex.join([PROG, *argv]))
    elapsed = time.perf_counter() - started
    out = os.path.join(args.out, "report.md")
    if "features" in results:
        rows = results["features"]["comparison"]["rows"]
        data = results["data"]
        print(f"Final test accuracy ({data['source']}, {data['n_test']:,} test images):")
        for row in rows:
            print(f"  {row['label']:<36} {100 * row['final_test_accuracy']:6.2f}%")
        for sentence in results["features"]["comparison"]["sentences"][1:]:
            print(sentence)
    pngs = sum(1 for f in results["files"] if f.endswith(".png"))
    print(f"Wrote {out}, results.json and {pngs} figures in {elapsed:.1f} s.")
    return 0
