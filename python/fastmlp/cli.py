"""The ``fastmlp`` command (also ``python -m fastmlp``).

Subcommands::

    fastmlp study     [--quick] [--sample] [--part all|features|parity|approximation] [--out DIR] ...
    fastmlp train     --model softmax|mlp|autoencoder|sparse-autoencoder [--out model.npz] ...
    fastmlp evaluate  MODEL.npz [--split test] ...
    fastmlp info

Errors are one line on stderr (``--debug`` shows the traceback instead); the exit code is 1 for errors
while running and 2 for bad arguments. Progress goes to stderr (tqdm bars when tqdm is installed),
results to stdout; ``--quiet`` turns progress off.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
import time
import traceback

__all__ = ["main", "build_parser"]

PROG = "fastmlp"
#: learning rates of the momentum solver (0.9) tuned on the MNIST validation split, per --model
TUNED_LEARNING_RATES = {"softmax": 0.02, "mlp": 0.1, "autoencoder": 0.1, "sparse-autoencoder": 0.1}
MODELS = tuple(TUNED_LEARNING_RATES)
TRAIN_SPLITS = ("train55k", "train")
EVAL_SPLITS = ("test", "validation", "train55k", "train")


class CommandError(Exception):
    """An error whose message is meant for the user as is."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------- argument types
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _float_in(low, high=None, low_open=False, what="a number"):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value != value or (low is not None and (value <= low if low_open else value < low)) \
                or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_nonnegative = _float_in(0.0, what="a number >= 0")
_positive = _float_in(0.0, low_open=True, what="a number > 0")
_fraction = _float_in(0.0, 1.0, low_open=True, what="a number strictly between 0 and 1")
_momentum = _float_in(0.0, 1.0, what="a number in [0, 1)")


def _hidden_sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a width like 196 or widths like 256,128, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden layer widths must be positive, got {text!r}")
    return sizes


# ---------------------------------------------------------------------------- the parser
def _common_options():
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("output")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bars or progress messages")
    group.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return common


def _data_options(with_sample_note=""):
    data = argparse.ArgumentParser(add_help=False)
    group = data.add_argument_group("data")
    group.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist",
                       help="data set (default: mnist)")
    group.add_argument("--data-dir", metavar="DIR",
                       help="folder searched first for the four data set files (directly or in mnist/ or "
                            "fashion-mnist/); then $FASTMLP_DATA, then the user cache")
    group.add_argument("--sample", action="store_true",
                       help="use the MNIST sample shipped with fastmlp (6,000 training / 1,000 test images): "
                            "no search, no network" + with_sample_note)
    group.add_argument("--no-download", action="store_true",
                       help="never touch the network (otherwise a missing data set is downloaded into the user "
                            "cache" + (", and MNIST falls back to the shipped sample if that fails" if with_sample_note
                                       else "") + ")")
    group.add_argument("--download-timeout", type=_positive, default=10.0, metavar="SECONDS",
                       help="seconds to wait for a download mirror (default: 10)")
    return data


def _run_options():
    run = argparse.ArgumentParser(add_help=False)
    group = run.add_argument_group("run")
    group.add_argument("--seed", type=int, default=0, help="random seed of initialisation and shuffling (default: 0)")
    group.add_argument("--threads", type=_positive_int, metavar="N",
                       help="threads of the BLAS and OpenMP loops (default: all cores)")
    return run


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .study.experiments import QUICK, StudyConfig
    from .study.parts import PARTS

    defaults = StudyConfig()
    common, run = _common_options(), _run_options()
    parser = _Parser(prog=PROG, description="fastmlp: fully-connected networks on a C++ core, and the classic "
                                            "feature-learning study of the lecture notes.")
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # -- study
    study = commands.add_parser(
        "study", parents=[_data_options(with_sample_note=" (plain `fastmlp study` falls back to it too when "
                                                          "MNIST can be neither found nor downloaded)"),
                          run, common],
        help="reproduce the feature-learning study: figures, results.json and report.md",
        description="Softmax on raw pixels, naive and sparse autoencoders, softmax on their features and a "
                    "shallow network trained by backpropagation, compared by test accuracy per epoch; plus "
                    "the parity and universal-approximation parts. Writes PNG figures, results.json and "
                    "report.md into --out.",
        epilog=f"--quick sets --epochs {QUICK['epochs']} and --ae-epochs {QUICK['ae_epochs']} (unless given) and "
               "runs the parity and approximation parts in their quick form. Example: fastmlp study --sample --quick")
    study.add_argument("--out", default="fastmlp-study", metavar="DIR",
                       help="folder to write into (created if needed; default: fastmlp-study)")
    study.add_argument("--part", choices=PARTS, default="all",
                       help="what to run (default: all = features + parity + approximation)")
    study.add_argument("--quick", action="store_true", help="a small, fast configuration (few epochs)")
    model = study.add_argument_group("model and training")
    model.add_argument("--epochs", type=_positive_int, metavar="N",
                       help=f"epochs of every classifier (default: {defaults.epochs}; --quick: {QUICK['epochs']})")
    model.add_argument("--ae-epochs", type=_positive_int, metavar="N",
                       help="epochs of each autoencoder (default: same as --epochs)")
    model.add_argument("--hidden", type=_positive_int, default=defaults.hidden, metavar="N",
                       help=f"hidden units of the autoencoders and the backprop network (default: {defaults.hidden})")
    model.add_argument("--sparsity-weight", type=_positive, default=defaults.sparsity_weight, metavar="λ",
                       help=f"weight λ of the sparse autoencoder's KL penalty (default: {defaults.sparsity_weight:g})")
    model.add_argument("--sparsity-target", type=_fraction, default=defaults.sparsity_target, metavar="α",
                       help="target mean activation α of the sparse autoencoder "
                            f"(default: {defaults.sparsity_target:g})")
    model.add_argument("--ae-weight-decay", type=_nonnegative, default=defaults.ae_weight_decay, metavar="W",
                       help="weight decay (W/2)·Σ‖W‖² of both autoencoders, which smooths their weight images "
                            f"(default: {defaults.ae_weight_decay:g}; 0 turns it off)")
    model.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size, metavar="N",
                       help=f"mini-batch size of all training (default: {defaults.batch_size})")
    study.set_defaults(handler=_cmd_study, parser=study)

    # -- train
    train = commands.add_parser(
        "train", parents=[_data_options(), run, common],
        help="train one model on a data set and save it",
        description="Train a model on the training images of a data set and save it to one .npz file "
                    "(load it with fastmlp.load or `fastmlp evaluate`).")
    train.add_argument("--model", choices=MODELS, required=True, help="what to train")
    train.add_argument("--out", default="model.npz", metavar="FILE", help="where to save it (default: model.npz)")
    train.add_argument("--split", choices=TRAIN_SPLITS, default="train55k",
                       help="training images: train55k (the first 55,000, validation held out; default) or "
                            "train (all 60,000)")
    options = train.add_argument_group("model and training")
    options.add_argument("--hidden", type=_hidden_sizes, metavar="N[,N...]",
                         help="hidden units (mlp: widths of the hidden layers, e.g. 256,128; default 196)")
    options.add_argument("--activation", choices=("sigmoid", "tanh", "relu"), default="sigmoid",
                         help="hidden activation of mlp and autoencoders (default: sigmoid)")
    options.add_argument("--epochs", type=_positive_int, default=20, metavar="N", help="epochs (default: 20)")
    options.add_argument("--solver", choices=("momentum", "sgd", "adam"), default="momentum",
                         help="optimizer (default: momentum 0.9)")
    options.add_argument("--learning-rate", type=_positive, metavar="LR",
                         help="step size (default for momentum: " + ", ".join(
                             f"{m} {lr:g}" for m, lr in TUNED_LEARNING_RATES.items())
                         + "; for sgd/adam the estimators' defaults)")
    options.add_argument("--momentum", type=_momentum, default=0.9, help="momentum coefficient (default: 0.9)")
    options.add_argument("--batch-size", type=_positive_int, default=128, metavar="N",
                         help="mini-batch size (default: 128)")
    options.add_argument("--weight-decay", type=_nonnegative, default=0.0, metavar="W",
                         help="L2 penalty (W/2)·Σ‖W‖² on the weight matrices (default: 0)")
    options.add_argument("--sparsity-weight", type=_positive, metavar="λ",
                         help="sparse-autoencoder only: KL penalty weight (default: 0.1)")
    options.add_argument("--sparsity-target", type=_fraction, metavar="α",
                         help="sparse-autoencoder only: target mean activation (default: 0.2)")
    train.set_defaults(handler=_cmd_train, parser=train)

    # -- evaluate
    evaluate = commands.add_parser(
        "evaluate", parents=[_data_options(), common],
        help="evaluate a saved model on a data split",
        description="Accuracy of a saved classifier, or reconstruction error (mean over images of ½‖x̂−x‖²) of "
                    "a saved autoencoder, on one split of a data set.")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by `fastmlp train` or estimator.save")
    evaluate.add_argument("--split", choices=EVAL_SPLITS, default="test", help="which images (default: test)")
    evaluate.add_argument("--threads", type=_positive_int, metavar="N", help="threads (default: all cores)")
    evaluate.add_argument("--json", action="store_true", help="print the result as one JSON object")
    evaluate.set_defaults(handler=_cmd_evaluate, parser=evaluate)

    # -- info
    info = commands.add_parser(
        "info", parents=[common], help="version, BLAS, threads, and where data is looked for",
        description="Show the fastmlp version, the native build (BLAS, OpenMP, compiler), the thread count, "
                    "optional packages, and where data sets are looked for and what was found there.")
    info.add_argument("--data-dir", metavar="DIR", help="also look in this folder (as --data-dir does elsewhere)")
    info.add_argument("--json", action="store_true", help="print everything as one JSON object")
    info.set_defaults(handler=_cmd_info, parser=info)
    return parser


# ---------------------------------------------------------------------------- helpers
def _reporter(args):
    from .study.progress import Reporter

    return Reporter(quiet=args.quiet)


def _check_data_args(args):
    if args.sample and args.dataset != "mnist":
        args.parser.error("--sample is the shipped MNIST sample; it cannot be used with --dataset fashion-mnist")
    if args.sample and args.data_dir:
        args.parser.error("--sample and --data-dir exclude each other (--sample uses no files)")


def _locate(args, reporter, allow_sample):
    """The DatasetSource for the data options, announcing a fall-back to the sample."""
    from .study.experiments import resolve_source

    source, _ = resolve_source(args.dataset, data_dir=args.data_dir, sample=args.sample,
                               download=not args.no_download, timeout=args.download_timeout, reporter=reporter,
                               allow_sample=allow_sample)
    return source


def _load_split(source, split):
    from . import datasets

    loader = datasets.load_fashion_mnist if source.name == "fashion-mnist" else datasets.load_mnist
    return loader(split, source=source)


def _set_threads(args):
    if getattr(args, "threads", None) is not None:
        import fastmlp

        fastmlp.set_num_threads(args.threads)


# ---------------------------------------------------------------------------- study
def _cmd_study(args, argv):
    from .study import QUICK, StudyConfig, run_study
    from .study.figures import MATPLOTLIB_MISSING

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


# ---------------------------------------------------------------------------- train / evaluate
def _make_estimator(args):
    import fastmlp

    model = args.model
    if model != "sparse-autoencoder" and (args.sparsity_weight is not None or args.sparsity_target is not None):
        args.parser.error("--sparsity-weight and --sparsity-target apply to --model sparse-autoencoder only")
    hidden = args.hidden or (196,)
    if model in ("autoencoder", "sparse-autoencoder") and len(hidden) != 1:
        args.parser.error(f"an autoencoder has one hidden layer: --hidden takes one width, got {args.hidden}")
    learning_rate = args.learning_rate
    if learning_rate is None and args.solver == "momentum":
        learning_rate = TUNED_LEARNING_RATES[model]
    training = dict(solver=args.solver, learning_rate=learning_rate, momentum=args.momentum,
                    batch_size=args.batch_size, max_epochs=args.epochs, n_iter_no_change=args.epochs + 1, tol=0.0,
                    weight_decay=args.weight_decay, random_state=args.seed)
    if model == "softmax":
        return fastmlp.SoftmaxRegression(**training)
    if model == "mlp":
        return fastmlp.MLPClassifier(hidden_layer_sizes=hidden, activation=args.activation, **training)
    sparse = model == "sparse-autoencoder"
    if sparse and args.activation != "sigmoid":
        args.parser.error("the sparse autoencoder needs --activation sigmoid (its KL penalty compares mean "
                          "activations in (0, 1))")
    return fastmlp.Autoencoder(
        n_hidden=hidden[0], activation=args.activation,
        sparsity_weight=(0.1 if args.sparsity_weight is None else args.sparsity_weight) if sparse else 0.0,
        sparsity_target=0.2 if args.sparsity_target is None else args.sparsity_target, **training)


def _is_autoencoder(estimator):
    return type(estimator).__name__ == "Autoencoder"


def _metrics(estimator, X, y):
    if _is_autoencoder(estimator):
        error = -estimator.score(X)
        return {"reconstruction_error": error, "pixel_mse": 2.0 * error / X.shape[1]}
    return {"accuracy": estimator.score(X, y)}


def _describe_metrics(metrics):
    if "accuracy" in metrics:
        return f"accuracy {100 * metrics['accuracy']:.2f}%"
    return (f"reconstruction error ½‖x̂−x‖² {metrics['reconstruction_error']:.4f} per image "
            f"(per-pixel MSE {metrics['pixel_mse']:.5f})")


def _cmd_train(args, argv):
    _check_data_args(args)
    estimator = _make_estimator(args)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise CommandError(f"cannot save to {args.out}: folder {out_dir} does not exist")
    _set_threads(args)
    reporter = _reporter(args)
    source = _locate(args, reporter, allow_sample=True)
    X, y = _load_split(source, args.split)
    validation = _load_split(source, "validation") if args.split == "train55k" else None
    reporter.message(f"Training {args.model} on {len(X):,} images ({args.split}) of the {source.description}.")
    bar = reporter.bar(args.model, args.epochs)
    autoencoder = _is_autoencoder(estimator)

    def callback(record):
        postfix = {"loss": f"{record['loss']:.4g}"}
        if validation is not None:
            metrics = _metrics(estimator, *validation)
            postfix["val"] = (f"{100 * metrics['accuracy']:.2f}%" if "accuracy" in metrics
                              else f"{metrics['reconstruction_error']:.3f}")
        bar.update(**postfix)

    estimator.set_params(callbacks=[callback])
    started = time.perf_counter()
    try:
        estimator.fit(X, None if autoencoder else y)
    finally:
        bar.close()
        estimator.set_params(callbacks=None)
    seconds = time.perf_counter() - started
    estimator.save(args.out)
    summary = (f"Trained {args.model} ({type(estimator).__name__}, {estimator.network_.n_parameters:,} parameters) "
               f"for {estimator.n_iter_} epochs in {seconds:.1f} s on {len(X):,} images of the {source.description}; "
               f"final training loss {estimator.loss_curve_[-1]:.4g}")
    if validation is not None:
        summary += f"; validation {_describe_metrics(_metrics(estimator, *validation))}"
    print(summary + f". Saved to {args.out}.")
    return 0


def _cmd_evaluate(args, argv):
    import fastmlp

    _check_data_args(args)
    if not os.path.exists(args.model):
        raise CommandError(f"no such model file: {args.model}")
    estimator = fastmlp.load(args.model)
    _set_threads(args)
    reporter = _reporter(args)
    source = _locate(args, reporter, allow_sample=True)
    X, y = _load_split(source, args.split)
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and n_features != X.shape[1]:
        raise CommandError(f"{args.model} takes {n_features} inputs, but {source.description} images have "
                           f"{X.shape[1]} pixels")
    metrics = _metrics(estimator, X, y)
    result = {"model": args.model, "class": type(estimator).__name__, "dataset": source.name,
              "source": source.description, "is_sample": source.is_sample, "split": args.split,
              "n_images": int(len(X)), **metrics}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model} ({type(estimator).__name__}) on the {args.split} split ({len(X):,} images) of the "
              f"{source.description}: {_describe_metrics(metrics)}")
    return 0


# ---------------------------------------------------------------------------- info
def _optional_version(name):
    if importlib.util.find_spec(name) is None:
        return None
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - installed without metadata
        return "installed"


def _info(data_dir):
    import numpy as np

    import fastmlp
    from . import datasets
    from .datasets.sample import SAMPLE_SIZES, sample_resource
    from .study.parts import ALL_PARTS, part_available

    data = {}
    for name in ("mnist", "fashion-mnist"):
        found = datasets.find_dataset(name, data_dir)
        data[name] = {"searched": [{"directory": str(loc.directory), "origin": loc.origin, "status": loc.status(),
                                    "complete": loc.complete} for loc in datasets.data_search_paths(name, data_dir)],
                      "found": None if found is None else found.description}
    return {
        "version": fastmlp.__version__, "python": sys.version.split()[0], "numpy": np.__version__,
        "build_info": fastmlp.build_info(), "threads": fastmlp.get_num_threads(),
        "optional_packages": {name: _optional_version(name) for name in ("matplotlib", "tqdm", "scipy")},
        "study_parts": {part: part_available(part) for part in ALL_PARTS},
        "data_env": {datasets.DATA_ENV_VAR: os.environ.get(datasets.DATA_ENV_VAR)},
        "user_cache": str(datasets.user_cache_dir()),
        "data": data,
        "shipped_sample": {"path": str(sample_resource()), "train_images": SAMPLE_SIZES["train"],
                           "test_images": SAMPLE_SIZES["test"]},
    }


def _cmd_info(args, argv):
    info = _info(args.data_dir)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    build = info["build_info"]
    uses = {"matplotlib": "figures of `fastmlp study`", "tqdm": "progress bars", "scipy": "solver='lbfgs'"}
    lines = [f"fastmlp {info['version']} (Python {info['python']}, numpy {info['numpy']})",
             f"native core: {build.get('blas_config') or build.get('blas')}",
             f"             OpenMP {build.get('openmp')}, {build.get('compiler')}, {build.get('build_type')} build, "
             f"flags '{(build.get('cxx_flags') or '').strip()}'",
             f"threads: {info['threads']} (set with --threads or fastmlp.set_num_threads)",
             "optional packages: " + ", ".join(
                 f"{name} {version or 'not installed'} ({uses[name]})"
                 for name, version in info["optional_packages"].items()),
             "study parts: " + ", ".join(f"{part}" + ("" if ok else " (not available in this build)")
                                         for part, ok in info["study_parts"].items()),
             "",
             f"data sets are looked for in this order (${next(iter(info['data_env']))} = "
             f"{next(iter(info['data_env'].values())) or 'not set'}); the first folder with all four files wins:"]
    for name, title in (("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST")):
        entry = info["data"][name]
        lines.append(f"  {title}:")
        lines += [f"    {loc['status']}" for loc in entry["searched"]]
        if entry["found"]:
            lines.append(f"    -> found: {entry['found']}")
        else:
            fallback = (", else the shipped sample" if name == "mnist" else "")
            lines.append(f"    -> not found: commands download it into {info['user_cache']}/{name}"
                         f"{fallback} (or use --data-dir)")
    sample = info["shipped_sample"]
    lines.append(f"shipped MNIST sample: {sample['path']} ({sample['train_images']:,} training / "
                 f"{sample['test_images']:,} test images)")
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------------------- entry point
def _one_line(exc):
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first, *rest = text.splitlines()
    from .datasets import DatasetNotFoundError

    if isinstance(exc, DatasetNotFoundError):
        return first + " Run `fastmlp info` to see where data is looked for, or use --sample."
    if isinstance(exc, (CommandError, ImportError, FileNotFoundError, PermissionError, RuntimeError)):
        return first + (" (--debug shows more)" if rest else "")
    return f"{type(exc).__name__}: {first}" + (" (--debug shows more)" if rest else "")


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
