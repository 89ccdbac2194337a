"""The training loop: one native ``Network.train_epoch`` call per epoch and, between epochs, the
Python bookkeeping (history, validation metric, stopping rules, best parameters, callbacks, progress).

Python runs at most once per epoch; everything inside an epoch (shuffle, mini-batches, updates) is C++.
The L-BFGS driver (:mod:`._lbfgs`) reuses :class:`EpochMonitor`, one "epoch" being one L-BFGS iteration.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

from ._exceptions import TrainingDivergedError


@dataclass
class TrainingOptions:
    """Resolved, checked training hyper-parameters (see ``BaseNetworkEstimator._training_options``)."""

    solver: str
    optimizer: str          # what Network.train_epoch runs: "sgd", "momentum" or "adam"
    learning_rate: float
    batch_size: int         # before clipping to n_samples
    max_epochs: int
    shuffle: bool
    momentum: float
    nesterov: bool
    early_stopping: bool
    validation_fraction: float
    n_iter_no_change: int
    tol: float
    verbose: bool
    callbacks: list = field(default_factory=list)
    comm: object = None     # an MPI communicator for data-parallel training (fit(..., comm=...)), else None


class EpochMonitor:
    """Bookkeeping after each epoch, writing the estimator's fitted attributes as it goes.

    Stopping rules (scikit-learn's): with early stopping, training stops once the validation score has
    failed to beat the best one by more than ``tol`` for ``n_iter_no_change`` consecutive epochs, and
    :meth:`finish` restores the parameters of the best epoch; without it, the same rule is applied to
    the training loss (an improvement is a decrease by more than ``tol``). Both rules look at the
    current ``fit`` call only (a warm start begins afresh). A callback returning a truthy value stops
    training too.
    """

    def __init__(self, estimator, network, options, validation=None, progress=None, run_callbacks=True):
        self.estimator, self.network, self.options = estimator, network, options
        self.validation = validation  # None or (X_val, T_val)
        self.progress = progress
        self.callbacks = options.callbacks if run_callbacks else []
        self.no_improvement = 0
        self.best_params = None
        self.best_score = None  # best validation score of this fit call
        self.best_loss = None   # lowest training loss of this fit call

    def end_epoch(self, loss, started):
        """Record the epoch that began at ``perf_counter()`` time ``started``; True means stop."""
        est, opts = self.estimator, self.options
        score = None
        if self.validation is not None:
            score = float(est._validation_metric(self.network, *self.validation))
        est.n_iter_ += 1
        record = {"epoch": est.n_iter_, "loss": float(loss), "validation_score": score,
                  "seconds": time.perf_counter() - started}
        est.history_.append(record)
        est.loss_curve_.append(record["loss"])
        if est.best_loss_ is None or record["loss"] < est.best_loss_:
            est.best_loss_ = record["loss"]
        if score is not None:
            est.validation_scores_.append(score)
            improved = self.best_score is None or score > self.best_score + opts.tol
            if self.best_score is None or score > self.best_score:
                self.best_score = est.best_validation_score_ = score
                self.best_params = self.network.get_flat()
        else:
            improved = self.best_loss is None or record["loss"] < self.best_loss - opts.tol
        if self.best_loss is None or record["loss"] < self.best_loss:
            self.best_loss = record["loss"]
        self.no_improvement = 0 if improved else self.no_improvement + 1
        if self.progress is not None:
            self.progress.update(record)
        stop = self.no_improvement >= opts.n_iter_no_change
        for callback in self.callbacks:
            stop = bool(callback(dict(record))) or stop
        return stop

    def finish(self):
        """End of training (normal or not): restore the best parameters under early stopping."""
        if self.progress is not None:
            self.progress.close()
        if self.best_params is not None:
            self.network.set_flat(self.best_params)


def diverged(estimator, options, cause=None):
    """The :class:`TrainingDivergedError` for the epoch (L-BFGS iteration) after the last recorded one."""
    step = "iteration" if options.solver == "lbfgs" else "epoch"
    advice = ("Try scaling the inputs down or dtype='float64'." if options.solver == "lbfgs"
              else f"Try a smaller learning_rate (now {options.learning_rate}).")
    detail = f" [{cause}]" if cause is not None and str(cause) else ""
    return TrainingDivergedError(
        f"{type(estimator).__name__}: the training diverged (NaN or infinite loss or parameters) in {step} "
        f"{estimator.n_iter_ + 1} (solver={options.solver!r}); the parameters are those from before that "
        f"{step}. {advice}{detail}")


def train_epoch(estimator, network, X, T, options, batch_size):
    """One native epoch, all or nothing: on a NaN/inf loss, on parameters that overflowed while the loss
    stayed finite (the update after the last loss evaluation; the core checks both and restores the epoch's
    start), or on a KeyboardInterrupt, the parameters go back to those from before the epoch, so they always
    match the recorded history. Divergence raises :class:`TrainingDivergedError` naming the epoch."""
    snapshot = network.get_flat()  # O(n_parameters), small next to the epoch's O(n_samples·n_parameters)
    kwargs = dict(optimizer=options.optimizer, learning_rate=options.learning_rate, momentum=options.momentum,
                  nesterov=options.nesterov, shuffle=options.shuffle)
    try:
        if options.comm is None:
            loss = network.train_epoch(X, T, batch_size, **kwargs)
        else:  # gradients averaged over the ranks after every backward pass; the loss over all samples
            from .. import distributed

            loss = distributed.train_epoch(network, X, T, batch_size, options.comm, **kwargs)
        return loss
    except FloatingPointError as exc:  # the core restored the epoch's start and says why
        cause = exc
    except KeyboardInterrupt:
        # Ctrl-C can surface just after a finished native epoch (e.g. a one-batch epoch); undo that epoch
        # too, as it is not in the history. (Inside the epoch the core has already restored it.)
        network.set_flat(snapshot)
        raise
    network.set_flat(snapshot)
    raise diverged(estimator, options, cause) from cause


def run_epochs(estimator, network, X, T, options, monitor):
    """Up to ``options.max_epochs`` epochs over (X, T), stopping when the monitor says so."""
    batch_size = X.shape[0] if options.solver == "gd" else min(options.batch_size, X.shape[0])
    for _ in range(options.max_epochs):
        started = time.perf_counter()
        loss = train_epoch(estimator, network, X, T, options, batch_size)
        if options.comm is None:
            stop = monitor.end_epoch(loss, started)
        else:  # the ranks stop after the same epoch, whatever one rank's callbacks say
            from .. import distributed

            stop = distributed.stop_together(options.comm, functools.partial(monitor.end_epoch, loss, started))
        if stop:
            break
