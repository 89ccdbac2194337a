"""The argument parser of the ``fastmlp`` command: its subcommands, options and argument types."""
from __future__ import annotations

import argparse

PROG = "fastmlp"
#: learning rates of the momentum solver (0.9) tuned on the MNIST validation split, per --model
TUNED_LEARNING_RATES = {"softmax": 0.02, "mlp": 0.1, "autoencoder": 0.1, "sparse-autoencoder": 0.1}
MODELS = tuple(TUNED_LEARNING_RATES)
TRAIN_SPLITS = ("train55k", "train")
EVAL_SPLITS = ("test", "validation", "train55k", "train")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------- argument types
def _int_at_least(minimum, what):
    """An argparse type: an integer >= minimum (``what`` names it in the error)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_seed = _int_at_least(0, "an integer >= 0")  # NumPy's seeds are non-negative


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
                       help="folder (it must exist) searched first for the four data set files (directly or in "
                            "mnist/ or fashion-mnist/); then $FASTMLP_DATA, then the user cache")
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
    group.add_argument("--seed", type=_seed, default=0, help="random seed of initialisation and shuffling (default: 0)")
    group.add_argument("--threads", type=_positive_int, metavar="N",
                       help="threads of the BLAS and OpenMP loops (default: all cores; under mpiexec, "
                            "train shares a machine's cores among its ranks)")
    return run


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ..study.config import QUICK, StudyConfig
    from ..study.parts import PARTS
    from .info import _cmd_info
    from .study import _cmd_study
    from .sweep import _cmd_sweep, _list_of
    from .train import _cmd_evaluate, _cmd_train

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

    # -- sweep
    sweep = commands.add_parser(
        "sweep", parents=[_data_options(with_sample_note=" (plain `fastmlp sweep` falls back to it too when "
                                                          "MNIST can be neither found nor downloaded)"), common],
        help="run a grid of feature-study settings in parallel processes; one table of results",
        description="Run the features part of the study (no figures) for every combination of the grid "
                    "options, each run in a process of its own with one thread, at most --jobs at a time. "
                    "Writes sweep.csv, sweep.md and sweep.json (settings, final test accuracies of the four "
                    "classifiers, seconds, status) into --out. A run that fails or whose process dies is "
                    "reported as 'failed: <reason>' and the others complete; the exit code is then 1.",
        epilog="Grid options take comma-separated values. Example: fastmlp sweep --sample --quick "
               "--hidden 64,196 --sparsity-weight 0,0.1,1 --jobs 4. Under mpiexec -n N the runs are dealt out to "
               "the N ranks and rank 0 writes the table.")
    sweep.add_argument("--out", default="fastmlp-sweep", metavar="DIR",
                       help="folder to write into (created if needed; default: fastmlp-sweep)")
    sweep.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                       help="runs at a time, each a process with one thread (default: 2; under mpiexec, "
                            "runs at a time per MPI rank, default 1)")
    sweep.add_argument("--quick", action="store_true",
                       help=f"{QUICK['epochs']} epochs ({QUICK['ae_epochs']} for the autoencoders) unless --epochs is given")
    grid = sweep.add_argument_group("grid (comma-separated values; every combination is one run)")
    grid.add_argument("--hidden", type=_list_of(_positive_int, "positive integers"), default=[defaults.hidden],
                      metavar="N[,N...]", help=f"hidden units (default: {defaults.hidden})")
    grid.add_argument("--sparsity-weight", type=_list_of(_nonnegative, "numbers >= 0"),
                      default=[defaults.sparsity_weight], metavar="λ[,λ...]",
                      help=f"KL weight λ of the sparse autoencoder (default: {defaults.sparsity_weight:g})")
    grid.add_argument("--sparsity-target", type=_list_of(_fraction, "numbers strictly between 0 and 1"),
                      default=[defaults.sparsity_target], metavar="α[,α...]",
                      help=f"target mean activation α (default: {defaults.sparsity_target:g})")
    grid.add_argument("--epochs", type=_list_of(_positive_int, "positive integers"), metavar="N[,N...]",
                      help=f"epochs of every classifier and autoencoder (default: {defaults.epochs}; "
                           f"--quick: {QUICK['epochs']})")
    grid.add_argument("--seed", type=_list_of(_seed, "integers >= 0"), default=[defaults.seed], metavar="S[,S...]",
                      help=f"random seeds (default: {defaults.seed})")
    sweep.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size, metavar="N",
                       help=f"mini-batch size of all training (default: {defaults.batch_size})")
    sweep.set_defaults(handler=_cmd_sweep, parser=sweep)

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
    options.add_argument("--activation", choices=("sigmoid", "tanh", "relu"),
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
                         help="mini-batch size, per rank under mpiexec (default: 128)")
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
