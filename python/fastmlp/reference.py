"""Pure NumPy twin of every fastmlp native kernel, written straight from the math.

Used by the parity tests (native vs reference) and as the benchmark baseline. Function names match the
native kernels in ``fastmlp._core`` and :class:`Network` mirrors :class:`fastmlp.Network`.

Conventions (the native core follows exactly the same ones):

* Rows are samples. A dense layer computes ``Z = X·Wᵀ + b`` with ``W`` of shape (n_out, n_in), the
  transpose of the lecture's column convention ``Z = W X + b``.
* Activation derivatives are taken from the activation's *output* ``A``: sigmoid ``A(1−A)``, tanh
  ``1−A²``, relu ``[A > 0]``, identity ``1``.
* Every data loss is averaged over the samples of the batch:
  softmax cross-entropy ``−(1/n) Σ_t Σ_k Y_tk log Ŷ_tk``, binary cross-entropy
  ``−(1/n) Σ_t Σ_k [Y log Ŷ + (1−Y) log(1−Ŷ)]`` and squared error ``(1/n) Σ_t ½‖Ŷ_t − Y_t‖²``.
* The sparsity penalty ``λ·Σ_i KL(α‖α̂_i)`` uses ``α̂_i``, the mean activation of hidden unit i over the
  batch, clamped to ``[ε, 1−ε]`` (ε = 1e-6 in float32 and float64) so it never yields inf/NaN; it is not
  divided by n again (α̂ already is a mean).
* Weight decay ``(weight_decay/2)·Σ_l ‖W(l)‖²`` covers weight matrices only (not biases), is not divided
  by n, and counts a tied matrix once.
"""
from __future__ import annotations

import numpy as np

from ._params import ParameterLayout, check_network_args, init_parameters, resolve_loss, shuffle_permutation

KL_EPS = 1e-6
ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")


# ---------------------------------------------------------------- activations
def activation_forward(Z, activation):
    """A = act(Z), element-wise (softmax is row-wise)."""
    if activation == "identity":
        return Z.copy()
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-Z))
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "relu":
        return np.maximum(Z, 0)
    if activation == "softmax":
        return softmax_forward(Z)
    raise ValueError(f"unknown activation {activation!r}")


def activation_backward(dA, A, activation, per_unit_grad=None):
    """dZ = (dA + per_unit_grad) ⊙ act'(Z), with act' written in terms of A = act(Z)."""
    if per_unit_grad is not None:
        dA = dA + per_unit_grad[None, :]
    if activation == "identity":
        return dA.copy()
    if activation == "sigmoid":
        return dA * A * (1 - A)
    if activation == "tanh":
        return dA * (1 - A * A)
    if activation == "relu":
        return dA * (A > 0)
    raise ValueError(f"unknown activation {activation!r}")


def softmax_forward(Z):
    """Ŷ_tk = exp(Z_tk − max_k Z_t) / Σ_j exp(Z_tj − max_k Z_t)  (shift for stability)."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- dense layer
def dense_forward(X, W, b, activation, transpose_w=False):
    """A = act(X·Wᵀ + b); with transpose_w the stored W is (n_in, n_out) and Z = X·W + b (tied decoder)."""
    Z = X @ (W if transpose_w else W.T) + b
    return activation_forward(Z, activation)


def dense_backward(dZ, X, W, transpose_w=False):
    """Gradients of Z = X·Wᵀ + b: dW = dZᵀ·X, db = Σ_t dZ_t, dX = dZ·W (transposed when tied)."""
    if transpose_w:
        return X.T @ dZ, dZ.sum(axis=0), dZ @ W.T
    return dZ.T @ X, dZ.sum(axis=0), dZ @ W


def gathered_dense_forward(X, rows, W):
    """Z = X[rows]·Wᵀ (rows None: all of X in order): the split step's hidden-layer product, which reads the
    mini-batch's rows where they lie in X."""
    return (X if rows is None else X[rows]) @ W.T


def gathered_weight_update(W, delta, X, rows, alpha):
    """W ← W + alpha·δᵀ·X[rows], in place: the backward of Z = X[rows]·Wᵀ with respect to W (alpha = −ρ: SGD)."""
    W += alpha * (delta.T @ (X if rows is None else X[rows]))


# ---------------------------------------------------------------- losses
def softmax_cross_entropy_forward(Z, Y):
    """(loss, Ŷ): Ŷ = softmax(Z), loss = −(1/n) Σ Y ⊙ log Ŷ with log Ŷ = Z − logsumexp(Z)."""
    shifted = Z - Z.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_sum
    return -(Y * log_probs).sum() / Z.shape[0], np.exp(log_probs)


def sigmoid_binary_cross_entropy_forward(Z, Y):
    """(loss, Ŷ): Ŷ = σ(Z), loss = (1/n) Σ [max(Z,0) − Z·Y + log(1 + e^−|Z|)], the stable form of BCE."""
    loss = (np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))).sum() / Z.shape[0]
    return loss, 1.0 / (1.0 + np.exp(-Z))


def squared_error_forward(Yhat, Y):
    """loss = (1/n) Σ_t ½‖Ŷ_t − Y_t‖²."""
    return 0.5 * ((Yhat - Y) ** 2).sum() / Yhat.shape[0]


def output_error_backward(Yhat, Y):
    """(delta, delta summed over the samples) with delta = (Ŷ − Y)/n: ∂loss/∂Z for softmax+CE and sigmoid+BCE, and
    ∂loss/∂Ŷ for squared error; the sums are the output bias gradient."""
    delta = (Yhat - Y) / Yhat.shape[0]
    return delta, delta.sum(axis=0)


def squared_error_forward_backward(Z, b, Y, activation):
    """(loss, dZ, dZ summed over the samples) for the output layer's bare product Z (bias b not yet added) and
    Ŷ = act(Z + b) element-wise: the loss (1/n) Σ_t ½‖Ŷ_t − Y_t‖² and dZ = (Ŷ − Y)/n ⊙ act'(Z + b), its gradient."""
    Yhat = activation_forward(Z + b, activation)
    delta = activation_backward(output_error_backward(Yhat, Y)[0], Yhat, activation)
    return squared_error_forward(Yhat, Y), delta, delta.sum(axis=0)


def all_finite(values):
    """Whether no value is NaN or ±inf (the input check at the Python boundary)."""
    return bool(np.isfinite(values).all())


def all_in_unit_interval(values):
    """Whether every value lies in [0, 1] (NaN and ±inf do not): the binary cross-entropy's targets."""
    return bool(((values >= 0) & (values <= 1)).all())


def softmax_backward(dYhat, Yhat):
    """dZ_t = Ŷ_t ⊙ (dŶ_t − ⟨dŶ_t, Ŷ_t⟩): the softmax Jacobian-vector product (for non-CE losses)."""
    return Yhat * (dYhat - (dYhat * Yhat).sum(axis=1, keepdims=True))


# ---------------------------------------------------------------- sparse KL penalty
def clamped_mean_activation(H):
    """α̂_i = (1/n) Σ_t H_ti, clamped to [ε, 1−ε] so log(α̂) and log(1−α̂) stay finite."""
    return np.clip(H.mean(axis=0), KL_EPS, 1 - KL_EPS)


def sparse_kl_penalty_forward(H, target, weight):
    """λ·Σ_i KL(α‖α̂_i), KL(α‖α̂) = α log(α/α̂) + (1−α) log((1−α)/(1−α̂))."""
    a_hat = clamped_mean_activation(H)
    a = target
    return weight * np.sum(a * np.log(a / a_hat) + (1 - a) * np.log((1 - a) / (1 - a_hat)))


def sparse_kl_penalty_backward(H, target, weight):
    """∂/∂H_ti of λ·Σ_i KL(α‖α̂_i) = λ·(−α/α̂_i + (1−α)/(1−α̂_i))/n, the same for every sample t."""
    a_hat = clamped_mean_activation(H)
    return weight * (-target / a_hat + (1 - target) / (1 - a_hat)) / H.shape[0]


def kl_sparsity(H, target):
    """Σ_i KL(target‖α̂_i) for activations H of shape (n_samples, n_hidden) (the penalty with λ = 1)."""
    H = np.asarray(H, dtype=np.float64)
    if H.ndim == 1:
        H = H[:, None]
    return float(sparse_kl_penalty_forward(H, target, 1.0))


# ---------------------------------------------------------------- weight decay
def weight_decay_forward(W, weight_decay):
    """(weight_decay/2)·‖W‖² for one weight matrix; the network sums it over its matrices."""
    return 0.5 * weight_decay * float(np.sum(W.astype(np.float64) ** 2))


def weight_decay_backward(W, weight_decay):
    """∂/∂W of (weight_decay/2)·‖W‖² = weight_decay·W."""
    return weight_decay * W


# ---------------------------------------------------------------- optimizer updates (in place)
def sgd_update(theta, grad, learning_rate):
    """θ ← θ − ρ·g."""
    theta -= learning_rate * grad


def momentum_update(theta, velocity, grad, learning_rate, momentum, nesterov=False):
    """v ← μ·v − ρ·g; θ ← θ + v (classical) or θ ← θ + μ·v − ρ·g (Nesterov, Sutskever's form)."""
    velocity *= momentum
    velocity -= learning_rate * grad
    if nesterov:
        theta += momentum * velocity - learning_rate * grad
    else:
        theta += velocity


def adam_update(theta, m, v, grad, learning_rate, beta1, beta2, eps, step):
    """m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; θ ← θ − ρ·m̂/(√v̂ + ε), m̂, v̂ bias-corrected at step t ≥ 1."""
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    theta -= learning_rate * m_hat / (np.sqrt(v_hat) + eps)


# ---------------------------------------------------------------- whole network
class Network:
    """NumPy mirror of :class:`fastmlp.Network`'s computation: same constructor, same parameters for the same
    seed, same shuffling for the same seed, same forward, losses, gradients and ``train_epoch`` updates (to
    round-off). Not its conveniences: no ``gradient_hook``, ``loss_and_grad_flat``, ``set_parameters`` or
    ``n_parameters``."""

    def __init__(self, layer_sizes, hidden_activation="sigmoid", output="softmax", loss=None,
                 sparsity_target=None, sparsity_weight=0.0, weight_decay=0.0, tied_weights=False,
                 dtype="float32", seed=None):
        self.dtype = check_network_args(hidden_activation, sparsity_target, sparsity_weight, weight_decay, dtype)
        self.loss_name = resolve_loss(output, loss)
        self.layout = ParameterLayout(layer_sizes, tied_weights)
        self.layer_sizes = self.layout.layer_sizes
        self.hidden_activation, self.output = hidden_activation, output
        self.sparsity_target = sparsity_target
        self.sparsity_weight, self.weight_decay = float(sparsity_weight), float(weight_decay)
        self.tied_weights = bool(tied_weights)
        self._theta, self._shuffle_state = init_parameters(self.layout, hidden_activation, self.dtype, seed)
        self._velocity = np.zeros_like(self._theta)
        self._m, self._v, self._adam_step = np.zeros_like(self._theta), np.zeros_like(self._theta), 0

    # parameters are views into one flat vector, exactly like the native buffer
    @property
    def weights(self):
        return self.layout.weight_views(self._theta)

    @property
    def biases(self):
        return self.layout.bias_views(self._theta)

    def get_flat(self):
        return self._theta.copy()

    def set_flat(self, theta):
        self._theta[:] = theta

    def _layer_weight(self, l):
        return self.weights[self.layout.weight_block[l]], self.layout.transposed[l]

    def _activation(self, l):
        return self.output if l == self.layout.n_layers - 1 else self.hidden_activation

    def _forward_all(self, X):
        """Activations of every layer; the output layer also returns its pre-activation Z."""
        acts, Z = [X], None
        for l in range(self.layout.n_layers):
            W, transposed = self._layer_weight(l)
            Z = acts[-1] @ (W if transposed else W.T) + self.biases[l]
            acts.append(activation_forward(Z, self._activation(l)))
        return acts, Z

    def forward(self, X):
        return self._forward_all(np.asarray(X, self.dtype))[0][-1]

    def hidden(self, X, layer=0):
        return self._forward_all(np.asarray(X, self.dtype))[0][layer + 1]

    def _data_loss_and_output_delta(self, Z, Yhat, Y):
        if self.loss_name == "cross_entropy":
            loss, _ = softmax_cross_entropy_forward(Z, Y)
            return loss, output_error_backward(Yhat, Y)[0]
        if self.loss_name == "binary_cross_entropy":
            loss, _ = sigmoid_binary_cross_entropy_forward(Z, Y)
            return loss, output_error_backward(Yhat, Y)[0]
        if self.output == "softmax":
            return squared_error_forward(Yhat, Y), softmax_backward(output_error_backward(Yhat, Y)[0], Yhat)
        return squared_error_forward_backward(Z, np.zeros(Z.shape[1], Z.dtype), Y, self.output)[:2]  # Z has b

    def _sparse(self):
        return self.sparsity_weight > 0

    def loss_and_grad(self, X, Y):
        X = np.asarray(X, self.dtype)
        Y = self._targets(Y, X.shape[0])
        acts, Z = self._forward_all(X)
        loss, delta = self._data_loss_and_output_delta(Z, acts[-1], Y)
        grad = np.zeros_like(self._theta)
        gW, gb = self.layout.weight_views(grad), self.layout.bias_views(grad)
        for l in range(self.layout.n_layers - 1, -1, -1):
            W, transposed = self._layer_weight(l)
            dW, db, dX = dense_backward(delta, acts[l], W, transposed)
            gW[self.layout.weight_block[l]] += dW
            gb[l] += db
            if l == 0:
                break  # the input layer's δ is never needed
            per_unit = None
            if self._sparse():
                loss += sparse_kl_penalty_forward(acts[l], self.sparsity_target, self.sparsity_weight)
                per_unit = sparse_kl_penalty_backward(acts[l], self.sparsity_target, self.sparsity_weight)
            delta = activation_backward(dX, acts[l], self.hidden_activation, per_unit)
        if self.weight_decay > 0:
            loss += sum(weight_decay_forward(W, self.weight_decay) for W in self.weights)
            for W, dW in zip(self.weights, gW):
                dW += weight_decay_backward(W, self.weight_decay)
        return float(loss), grad

    def loss(self, X, Y):
        return self.loss_and_grad(X, Y)[0]

    def _targets(self, Y, n):
        Y = np.asarray(Y)
        if Y.ndim == 1 and self.output == "softmax":
            onehot = np.zeros((n, self.layer_sizes[-1]), self.dtype)
            onehot[np.arange(n), Y.astype(np.int64)] = 1
            return onehot
        return Y.astype(self.dtype).reshape(n, -1)

    def train_epoch(self, X, Y, batch_size, optimizer="sgd", learning_rate=0.1, momentum=0.9,
                    nesterov=False, beta1=0.9, beta2=0.999, eps=1e-8, shuffle=True):
        X = np.asarray(X, self.dtype)
        Y = self._targets(Y, X.shape[0])
        n = X.shape[0]
        order = np.arange(n)
        if shuffle:
            order, self._shuffle_state = shuffle_permutation(n, self._shuffle_state)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss, grad = self.loss_and_grad(X[idx], Y[idx])
            total += loss * len(idx)
            if optimizer == "sgd":
                sgd_update(self._theta, grad, learning_rate)
            elif optimizer == "momentum":
                momentum_update(self._theta, self._velocity, grad, learning_rate, momentum, nesterov)
            elif optimizer == "adam":
                self._adam_step += 1
                adam_update(self._theta, self._m, self._v, grad, learning_rate, beta1, beta2, eps,
                            self._adam_step)
            else:
                raise ValueError(f"unknown optimizer {optimizer!r}")
        return total / n
