"""The low-level :class:`Network`: a fully-connected net whose parameters live in one native buffer."""
from __future__ import annotations

import math

import numpy as np

from . import _core
from ._params import ParameterLayout, check_network_args, init_parameters, resolve_loss
from ._validation import (all_finite, all_in_unit_interval, as_features, as_float_array, as_targets,
                          check_positive_int, check_real)

OPTIMIZERS = ("sgd", "momentum", "adam")


_NAN_PARAMETERS = ("the network's parameters contain NaN or inf (set by hand, or loaded that way): reinitialise "
                   "them or set finite ones")


def _finite(values, what, params):
    if not all_finite(values):
        if not all_finite(params):
            raise FloatingPointError(_NAN_PARAMETERS)
        raise FloatingPointError(f"the network's {what} overflowed to NaN/inf: the inputs or parameters are "
                                 "too large for its dtype")
    return values


def _finite_loss(loss, params):
    if not np.isfinite(loss):
        if not all_finite(params):
            raise FloatingPointError(_NAN_PARAMETERS)
        raise FloatingPointError(f"the loss is {float(loss)}: the inputs or parameters are too large for the "
                                 "network's dtype (or the parameters diverged)")
    return float(loss)


class Network:
    """A fully-connected network trained by backpropagation on the native core.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from input to output, e.g. ``(784, 196, 10)``.
    hidden_activation : {"sigmoid", "tanh", "relu", "identity"}
    output : {"softmax", "sigmoid", "identity", "tanh", "relu"}
    loss : {"cross_entropy", "binary_cross_entropy", "squared_error"} or None
        None picks cross-entropy for softmax, binary cross-entropy for sigmoid, squared error otherwise.
        Every data loss is the mean over the samples of the batch.
    sparsity_target, sparsity_weight : float
        The sparse-autoencoder penalty ``sparsity_weight · Σ_i KL(sparsity_target ‖ α̂_i)`` on every hidden
        layer, α̂_i the batch-mean activation of hidden unit i (clamped to [1e-6, 1−1e-6]); needs sigmoid
        hidden units.
    weight_decay : float
        Adds ``(weight_decay/2)·Σ_l ‖W(l)‖²`` over weight matrices only (not biases, not divided by n).
    tied_weights : bool
        For ``(n_in, n_hidden, n_in)`` autoencoders: the decoder uses the encoder's matrix transposed, so
        ``weights`` holds the one (n_hidden, n_in) matrix (its gradient sums both uses) and ``biases`` both.
    dtype : {"float32", "float64"}
    seed : int or None
        Seeds the Glorot-uniform initialisation and the epoch shuffle: same seed and same thread count
        give bit-identical training.

    Rows are samples: a layer computes ``Z = X·Wᵀ + b`` with ``W`` of shape (n_out, n_in).
    ``weights`` and ``biases`` are live views of the native parameters: writing into them changes the net.
    """

    def __init__(self, layer_sizes, hidden_activation="sigmoid", output="softmax", loss=None,
                 sparsity_target=None, sparsity_weight=0.0, weight_decay=0.0, tied_weights=False,
                 dtype="float32", seed=None):
        self.dtype = check_network_args(hidden_activation, sparsity_target, sparsity_weight, weight_decay, dtype)
        self.loss_name = resolve_loss(output, loss)
        self.layout = ParameterLayout(layer_sizes, bool(tied_weights))
        self.layer_sizes = self.layout.layer_sizes
        self.hidden_activation, self.output = hidden_activation, output
        self.sparsity_target = None if sparsity_target is None else float(sparsity_target)
        self.sparsity_weight, self.weight_decay = float(sparsity_weight), float(weight_decay)
        self.tied_weights = bool(tied_weights)
        theta, shuffle_state = init_parameters(self.layout, hidden_activation, self.dtype, seed)
        self._build(shuffle_state)
        self._params[:] = theta

    def _build(self, shuffle_state):
        native = _core.NetworkF32 if self.dtype == np.float32 else _core.NetworkF64
        self._net = native(list(self.layer_sizes), self.hidden_activation, self.output, self.loss_name,
                           self.sparsity_target or 0.0, self.sparsity_weight, self.weight_decay,
                           self.tied_weights, shuffle_state)
        self._params, self._grads = self._net.params, self._net.grads

    # ------------------------------------------------------------------ parameters
    @property
    def weights(self):
        """Weight matrices (n_out, n_in) as live views of the native buffer."""
        return self.layout.weight_views(self._params)

    @property
    def biases(self):
        """Bias vectors as live views of the native buffer."""
        return self.layout.bias_views(self._params)

    @property
    def n_parameters(self):
        return self.layout.size

    def set_parameters(self, weights, biases):
        """Copy weights and biases in, after checking their number and shapes."""
        if len(weights) != len(self.layout.weight_shapes) or len(biases) != self.layout.n_layers:
            raise ValueError(f"expected {len(self.layout.weight_shapes)} weight matrices and "
                             f"{self.layout.n_layers} bias vectors, got {len(weights)} and {len(biases)}")
        theta = np.empty_like(self._params)  # the weight and bias blocks cover all of it
        for kind, given, views in (("weights", weights, self.layout.weight_views(theta)),
                                   ("biases", biases, self.layout.bias_views(theta))):
            for i, (src, dst) in enumerate(zip(given, views)):
                arr = np.asarray(src)
                if arr.shape != dst.shape:
                    raise ValueError(f"{kind}[{i}] must have shape {dst.shape}, got {arr.shape}")
                dst.reshape(-1)[:] = as_float_array(arr.reshape(-1), self.dtype, f"{kind}[{i}]", 1)
        self._net.set_flat(theta)

    def get_flat(self):
        """A copy of the flat parameter vector (weights first, then biases)."""
        return self._params.copy()

    def _checked_theta(self, theta):
        theta = as_float_array(theta, self.dtype, "theta", ndim=1)
        if theta.shape[0] != self.layout.size:
            raise ValueError(f"theta must have length {self.layout.size}, got {theta.shape[0]}")
        return theta

    def set_flat(self, theta):
        """Set the flat parameter vector. Like training, it needs the network alone: while another thread runs a
        forward pass or a training call on it, RuntimeError (the pass would read a mix of old and new values).
        Writing into the ``weights``/``biases`` views directly is not guarded."""
        self._net.set_flat(self._checked_theta(theta))

    # ------------------------------------------------------------------ computation
    def forward(self, X):
        """Network outputs for X (n_samples, n_in). FloatingPointError if they overflow to NaN/inf."""
        return _finite(self._net.forward(as_features(X, self.layer_sizes[0], self.dtype), self.layout.n_layers - 1),
                       "outputs", self._params)

    def hidden(self, X, layer=0):
        """Activations of hidden layer ``layer`` (0 = first) for X."""
        n_hidden = self.layout.n_layers - 1
        if n_hidden == 0:
            raise ValueError(f"this network has no hidden layer (layer_sizes {self.layer_sizes}); forward gives "
                             "its outputs")
        if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (int, np.integer)) \
                or not 0 <= layer < n_hidden:
            raise ValueError(f"layer must be an int in [0, {n_hidden}), got {layer!r}")
        return _finite(self._net.forward(as_features(X, self.layer_sizes[0], self.dtype), int(layer)),
                       "hidden activations", self._params)

    def _inputs(self, X, Y, *, check_x_finite):
        """(X, Y) converted and checked. ``check_x_finite=False``: the native call checks X for NaN/inf itself
        (so Y too when it is X); every caller says which."""
        reconstructs = Y is X  # an autoencoder's targets are its inputs: convert and scan them once
        X = as_features(X, self.layer_sizes[0], self.dtype, check_finite=check_x_finite)
        if reconstructs and X.shape[1] == self.layer_sizes[-1]:
            Y = X
        else:
            Y = as_targets(Y, X.shape[0], self.layer_sizes[-1], self.output == "softmax", self.dtype)
        # the binary cross-entropy's targets are probabilities: outside [0, 1] it has no minimum
        if self.loss_name == "binary_cross_entropy" and not all_in_unit_interval(Y):
            low, high = float(Y.min()), float(Y.max())  # on the way to an error only: the message names them
            # (NaN/inf, in an X not scanned yet, is left to the native call, which names the row)
            if (low < 0 or high > 1) and math.isfinite(low) and math.isfinite(high):
                raise ValueError(f"{'X (the targets of this reconstruction)' if Y is X else 'Y'} must lie in "
                                 f"[0, 1] for the binary cross-entropy loss, got values in [{low:g}, {high:g}]; "
                                 "scale them, or use loss='squared_error'")
        return X, Y

    def loss(self, X, Y):
        """Loss of the batch: mean data loss + sparsity penalty + weight decay."""
        X, Y = self._inputs(X, Y, check_x_finite=False)  # X's NaN/inf: checked by the native call, in chunks
        return _finite_loss(self._net.loss_and_grad(X, Y, False), self._params)

    def loss_and_grad(self, X, Y):
        """(loss, grad_weights, grad_biases) for the whole batch; the gradients are fresh arrays."""
        X, Y = self._inputs(X, Y, check_x_finite=False)  # X's NaN/inf: checked by the native call, in chunks
        grad = np.empty(self.layout.size, self.dtype)  # filled inside the native call: no other call between
        loss = _finite_loss(self._net.loss_and_grad(X, Y, True, grad_out=grad), self._params)
        return loss, self.layout.weight_views(grad), self.layout.bias_views(grad)

    def loss_and_grad_flat(self, theta, X, Y):
        """Set the parameters to theta, then (loss, flat gradient copy): the function an L-BFGS minimiser
        wants. Pass X, Y already converted (``float32``/``float64`` C-contiguous) to avoid a copy per call."""
        theta = self._checked_theta(theta)
        # all checked before the parameters change, X's NaN/inf by the native call: a bad call leaves them as they were
        X, Y = self._inputs(X, Y, check_x_finite=False)
        grad = np.empty(self.layout.size, self.dtype)
        # theta set and the gradient copied inside the native call, so another thread's call cannot come between
        loss = _finite_loss(self._net.loss_and_grad(X, Y, True, theta=theta, grad_out=grad), self._params)
        return loss, grad

    def train_epoch(self, X, Y, batch_size, optimizer="sgd", learning_rate=0.1, momentum=0.9, nesterov=False,
                    beta1=0.9, beta2=0.999, eps=1e-8, shuffle=True, gradient_hook=None):
        """One pass over (X, Y) in mini-batches; returns the mean training loss. Optimizer state (velocity,
        Adam moments) persists across calls. NaN/inf loss raises FloatingPointError and Ctrl-C raises
        KeyboardInterrupt, both with the parameters restored to the start of the epoch; so does the ValueError
        for a NaN/inf in X, which the core finds a mini-batch at a time (naming the lowest bad row).

        ``gradient_hook(grad)``, when given, is called after every backward pass with the flat gradient
        buffer itself (a writable view, no copy) before the optimizer update — where data-parallel training
        averages gradients across processes (e.g. an MPI ``Allreduce`` in place). It is the one mode in
        which Python runs once per mini-batch; an exception in it undoes the epoch and propagates. After a
        NaN/inf loss the hook is still called once, with a gradient of NaN, before FloatingPointError: so that
        every process of a collective reduction sees the divergence and stops at the same mini-batch; a
        non-finite gradient coming back from the hook raises FloatingPointError too."""
        epoch = self._epoch_arguments(X, Y, batch_size, optimizer, learning_rate, momentum, nesterov, beta1, beta2,
                                      eps, shuffle, gradient_hook)
        return self._run_epoch(epoch)

    def _epoch_arguments(self, X, Y, batch_size, optimizer, learning_rate, momentum, nesterov, beta1, beta2, eps,
                         shuffle, gradient_hook):
        """Every argument of :meth:`train_epoch` (whose signature holds the defaults) checked and converted
        (TypeError/ValueError otherwise), as the native call's arguments; nothing runs yet."""
        # X's NaN/inf: checked by the native epoch a mini-batch at a time, not by a pass of its own here; but with
        # a gradient hook here, before the epoch, where distributed.train_epoch raises it on every rank alike
        X, Y = self._inputs(X, Y, check_x_finite=gradient_hook is not None)
        batch_size = min(check_positive_int(batch_size, "batch_size"), X.shape[0])
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        learning_rate = check_real(learning_rate, "learning_rate", 0, low_open=True)
        momentum = check_real(momentum, "momentum", 0, 1)
        beta1, beta2 = check_real(beta1, "beta1", 0, 1), check_real(beta2, "beta2", 0, 1)
        eps = check_real(eps, "eps", 0, low_open=True)
        if gradient_hook is not None and not callable(gradient_hook):
            raise TypeError(f"gradient_hook must be callable or None, got {type(gradient_hook).__name__}")
        return [X, Y, batch_size, optimizer, learning_rate, momentum, bool(nesterov), beta1, beta2, eps,
                bool(shuffle), gradient_hook]

    def _run_epoch(self, epoch):
        """The native epoch on :meth:`_epoch_arguments`' result."""
        try:
            return float(self._net.train_epoch(*epoch))
        except FloatingPointError as exc:  # the epoch was undone: NaN parameters now were NaN before it
            if not all_finite(self._params):
                raise type(exc)(_NAN_PARAMETERS) from exc
            raise

    # ------------------------------------------------------------------ copying and pickling
    def _config(self):
        return dict(layer_sizes=self.layer_sizes, hidden_activation=self.hidden_activation, output=self.output,
                    loss=self.loss_name, sparsity_target=self.sparsity_target,
                    sparsity_weight=self.sparsity_weight, weight_decay=self.weight_decay,
                    tied_weights=self.tied_weights, dtype=self.dtype.name)

    def __getstate__(self):
        # Optimizer state (velocity, Adam moments) is not kept: a restored network starts it afresh.
        return {"config": self._config(), "params": self.get_flat(), "shuffle_state": self._net.shuffle_state}

    def __setstate__(self, state):
        self.__init__(**state["config"])
        self._build(state["shuffle_state"])
        self.set_flat(state["params"])  # checked: its length, dtype and finiteness (no silent broadcast)

    def __repr__(self):
        extra = ""
        if self.sparsity_weight > 0:
            extra += f", sparsity_target={self.sparsity_target}, sparsity_weight={self.sparsity_weight}"
        if self.weight_decay > 0:
            extra += f", weight_decay={self.weight_decay}"
        if self.tied_weights:
            extra += ", tied_weights=True"
        return (f"Network({list(self.layer_sizes)}, hidden_activation={self.hidden_activation!r}, "
                f"output={self.output!r}, loss={self.loss_name!r}{extra}, dtype={self.dtype.name!r})")
