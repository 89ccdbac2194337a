"""``solver="lbfgs"``: SciPy's L-BFGS-B on the whole training set (the classic sparse-autoencoder recipe).

The objective is :meth:`fastmlp.Network.loss_and_grad_flat` (loss and gradient of all the data in one
native call); SciPy works in float64, so the gradient is converted back for it. One L-BFGS iteration is
one "epoch" of the history: SciPy's per-iteration callback feeds :class:`EpochMonitor`, which also lets
early stopping and user callbacks end the run.
"""
from __future__ import annotations

import time

import numpy as np

from ._exceptions import TrainingDivergedError
from ._training import diverged


class _StopRequested(Exception):
    """Raised from the SciPy callback to end the minimisation (works with every SciPy version)."""


def _minimize():
    try:
        from scipy.optimize import minimize
    except ImportError as exc:
        raise ImportError("solver='lbfgs' needs SciPy, which is not installed: pip install fastmlp[lbfgs] "
                          "(or choose solver='adam', 'sgd', 'momentum' or 'gd')") from exc
    return minimize


def run_lbfgs(network, X, T, options, monitor):
    """Minimise the training loss over (X, T) (already converted) for at most ``options.max_epochs``
    L-BFGS iterations, leaving the network at the final (or, on a stop request, latest) point.

    A non-finite loss, gradient or trial point (an overflow L-BFGS-B cannot recover from) raises
    :class:`TrainingDivergedError` naming the iteration, with the network at the last accepted point.
    """
    minimize = _minimize()
    estimator = monitor.estimator
    accepted = network.get_flat()  # the last point L-BFGS accepted (to start with, the initial one)
    last = {"x": None, "loss": None}
    started = [time.perf_counter()]

    def loss_and_grad(theta):
        if not np.isfinite(theta).all():
            raise diverged(estimator, options, "L-BFGS stepped to a non-finite point")
        try:
            loss, grad = network.loss_and_grad_flat(theta, X, T)
        except FloatingPointError as exc:  # the loss overflowed at this trial point
            raise diverged(estimator, options, str(exc)) from exc
        if not np.isfinite(grad).all():
            raise diverged(estimator, options, f"the gradient is not finite at an L-BFGS trial point (loss {loss})")
        last["x"], last["loss"] = np.array(theta, copy=True), loss
        return loss, grad.astype(np.float64)

    # The parameter name matters: SciPy >= 1.11 then passes an OptimizeResult with .x and .fun;
    # older versions pass the point only, whose loss is the last one evaluated.
    def callback(intermediate_result):
        nonlocal accepted
        x = getattr(intermediate_result, "x", intermediate_result)
        loss = getattr(intermediate_result, "fun", None)
        if loss is None:
            loss = last["loss"] if last["x"] is not None and np.array_equal(last["x"], x) \
                else loss_and_grad(x)[0]
        network.set_flat(x)  # the validation metric is evaluated at the accepted point
        accepted = network.get_flat()
        stop = monitor.end_epoch(loss, started[0])
        started[0] = time.perf_counter()
        if stop:
            raise _StopRequested

    try:
        result = minimize(loss_and_grad, accepted.astype(np.float64), jac=True, method="L-BFGS-B",
                          callback=callback, options={"maxiter": options.max_epochs})
    except _StopRequested:
        network.set_flat(accepted)
        return
    except TrainingDivergedError:
        network.set_flat(accepted)
        raise
    network.set_flat(result.x)
