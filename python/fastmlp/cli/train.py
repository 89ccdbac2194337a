"""``fastmlp train`` and ``fastmlp evaluate``: fit one model and save it, score a saved model."""
from __future__ import annotations

import json
import os
import time

from .common import _check_data_args, _load_shard, _load_split, _locate, _mpi_world, _reporter, _set_threads
from .errors import CommandError
from .parser import TUNED_LEARNING_RATES


def _make_estimator(args):
    import fastmlp

    model = args.model
    if model != "sparse-autoencoder" and (args.sparsity_weight is not None or args.sparsity_target is not None):
        args.parser.error("--sparsity-weight and --sparsity-target apply to --model sparse-autoencoder only")
    if model == "softmax" and (args.hidden or args.activation):
        args.parser.error("--hidden and --activation apply to --model mlp and the autoencoders; softmax "
                          "regression has no hidden layer")
    activation = args.activation or "sigmoid"
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
        return fastmlp.MLPClassifier(hidden_layer_sizes=hidden, activation=activation, **training)
    sparse = model == "sparse-autoencoder"
    if sparse and activation != "sigmoid":
        args.parser.error("the sparse autoencoder needs --activation sigmoid (its KL penalty compares mean "
                          "activations in (0, 1))")
    return fastmlp.Autoencoder(
        n_hidden=hidden[0], activation=activation,
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
    comm = _mpi_world()  # under mpiexec with several ranks: data-parallel, each rank trains on its shard
    _set_threads(args, comm)
    rank0 = comm is None or comm.Get_rank() == 0
    if not rank0:
        args.quiet = True
    reporter = _reporter(args)
    if comm is None:
        source = _locate(args, reporter, allow_sample=True)
        X, y = _load_split(source, args.split)
        n_images = len(X)
    else:  # each rank reads only its shard of the split
        source, n_images, X, y = _load_shard(args, reporter, comm)
    validation = _load_split(source, "validation") if args.split == "train55k" and rank0 else None
    reporter.message(f"Training {args.model} on {n_images:,} images ({args.split}) of the {source.description}"
                     + ("." if comm is None else f" on {comm.Get_size()} MPI ranks ({len(X):,} images each, "
                                                 f"global batch {comm.Get_size()} × {args.batch_size})."))
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
        if comm is None:
            estimator.fit(X, None if autoencoder else y)
        else:
            estimator.fit(X, None if autoencoder else y, comm=comm)
    finally:
        bar.close()
        estimator.set_params(callbacks=None)
    seconds = time.perf_counter() - started
    if not rank0:  # the ranks hold the same model: rank 0 alone saves and reports it
        return 0
    estimator.save(args.out)
    summary = (f"Trained {args.model} ({type(estimator).__name__}, {estimator.network_.n_parameters:,} parameters) "
               f"for {estimator.n_iter_} epochs in {seconds:.1f} s on {n_images:,} images of the {source.description}; "
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
