"""The (sparse) autoencoder: ``Network([n_features, n_hidden, n_features])`` trained to reproduce its
input, used as a feature-learning transformer."""
from __future__ import annotations

import numpy as np

from .._params import HIDDEN_ACTIVATIONS
from ..network import Network
from . import _checks as checks
from ._base import FITTED_ATTRIBUTES_DOC, TRAINING_PARAMETERS_DOC, BaseNetworkEstimator

OUTPUT_ACTIVATIONS = ("sigmoid", "identity", "tanh", "relu")
LOSSES = ("squared_error", "binary_cross_entropy")


def reconstruction_error(X_hat, X):
    """Mean over samples of ½‖x̂ − x‖², computed in float64."""
    diff = np.asarray(X_hat, dtype=np.float64) - np.asarray(X, dtype=np.float64)
    return 0.5 * float(np.mean(np.einsum("ij,ij->i", diff, diff)))


class Autoencoder(BaseNetworkEstimator):
    __doc__ = f"""Autoencoder with one hidden layer and an optional KL sparsity penalty.

    Minimises, over the training inputs x, the mean over samples of the reconstruction loss
    (``loss="squared_error"``: ½‖x̂ − x‖², the classic sparse-autoencoder recipe with a sigmoid output;
    ``"binary_cross_entropy"`` for inputs in [0, 1]) plus ``sparsity_weight · Σ_j KL(sparsity_target ‖
    ρ̂_j)``, ρ̂_j being hidden unit j's mean activation over the mini-batch (the whole training set for
    gd and lbfgs), plus ``(weight_decay/2)·Σ‖W‖²``. ``sparsity_weight=0`` is the plain autoencoder.

    ``transform`` gives the hidden activations (the learned features), ``inverse_transform`` decodes
    them and ``reconstruct`` does both. As a scikit-learn transformer it fits in a ``Pipeline``, and a
    trained autoencoder can initialise an MLP: ``MLPClassifier(...).fit(X, y, init_from=ae)``.

    Parameters
    ----------
    n_hidden : int, default=196
        Hidden units (features learned).
    activation : {{"sigmoid", "tanh", "relu", "identity"}}, default="sigmoid"
        Hidden-layer activation; the sparsity penalty needs "sigmoid".
    output_activation : {{"sigmoid", "identity", "tanh", "relu"}}, default="sigmoid"
        Decoder output activation ("sigmoid" suits inputs scaled to [0, 1]).
    loss : {{"squared_error", "binary_cross_entropy"}}, default="squared_error"
        Reconstruction loss; binary cross-entropy needs ``output_activation="sigmoid"``.
    sparsity_target : float, default=0.2
        Desired mean activation of each hidden unit, in (0, 1).
    sparsity_weight : float, default=0.1
        Weight of the KL sparsity penalty; 0 turns it off.
    tied_weights : bool, default=False
        Decode with the transpose of the encoder matrix (one stored matrix).
{TRAINING_PARAMETERS_DOC}
    With early stopping the validation score is :meth:`score` on the held-out samples.

    Attributes
    ----------
{FITTED_ATTRIBUTES_DOC}"""

    def __init__(self, n_hidden=196, activation="sigmoid", output_activation="sigmoid", *,
                 loss="squared_error", sparsity_target=0.2, sparsity_weight=0.1, tied_weights=False,
                 solver="adam", learning_rate=None, batch_size=200, max_epochs=200, weight_decay=0.0,
                 shuffle=True, early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 random_state=None, verbose=False, dtype="float32", momentum=0.9, nesterov=False,
                 callbacks=None, warm_start=False):
        self._set_hyperparameters(locals())

    # ------------------------------------------------------------------ model definition
    def _check_model_hyperparameters(self):
        checks.check_positive_int(self.n_hidden, "n_hidden")
        checks.check_choice(self.activation, "activation", HIDDEN_ACTIVATIONS)
        checks.check_choice(self.output_activation, "output_activation", OUTPUT_ACTIVATIONS)
        checks.check_choice(self.loss, "loss", LOSSES)
        if self.loss == "binary_cross_entropy" and self.output_activation != "sigmoid":
            raise ValueError("loss='binary_cross_entropy' needs output_activation='sigmoid', got "
                             f"output_activation={self.output_activation!r}")
        sparsity_weight = checks.check_real(self.sparsity_weight, "sparsity_weight", 0)
        checks.check_bool(self.tied_weights, "tied_weights")
        if sparsity_weight > 0:
            checks.check_fraction(self.sparsity_target, "sparsity_target")
            if self.activation != "sigmoid":
                raise ValueError("sparsity_weight > 0 needs activation='sigmoid' (the KL penalty compares "
                                 f"mean activations in (0, 1)), got activation={self.activation!r}")

    def _network_spec(self, n_features, n_outputs):
        sparse = self.sparsity_weight > 0
        return dict(layer_sizes=(n_features, int(self.n_hidden), n_features), hidden_activation=self.activation,
                    output=self.output_activation, loss=self.loss,
                    sparsity_target=float(self.sparsity_target) if sparse else None,
                    sparsity_weight=float(self.sparsity_weight), tied_weights=bool(self.tied_weights))

    def _validation_metric(self, network, X, T):
        return -reconstruction_error(network.forward(X), T)

    # ------------------------------------------------------------------ fitting
    def _fit_inputs(self, X, partial, comm=None):
        options, continuing, X = self._begin_fit(X, partial=partial, comm=comm)
        return self._train(X, X, X.shape[1], options, continuing, partial=partial)

    def fit(self, X, y=None, comm=None):
        """Train to reconstruct X (n_samples, n_features); y is ignored. Returns self.

        ``comm``: an MPI communicator (mpi4py) for data-parallel training; X is then this rank's shard
        (see :func:`fastmlp.distributed.shard`) and ``batch_size`` the per-rank batch. With a sparsity
        penalty the result only approximates single-process training (the penalty uses batch means).
        """
        return self._fit_inputs(X, partial=False, comm=comm)

    def partial_fit(self, X, y=None):
        """One epoch on X, continuing from the current state; y is ignored. Returns self."""
        return self._fit_inputs(X, partial=True)

    def fit_transform(self, X, y=None):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    # ------------------------------------------------------------------ encoding and decoding
    def transform(self, X):
        """The hidden activations (n_samples, n_hidden): the learned features, in the model's dtype."""
        X = self._checked_input(X)
        return self.network_.hidden(X, 0)

    def _decoder(self):
        """A one-layer Network computing the decoder, holding a copy of the decoder parameters."""
        network = self.network_
        matrix = network.weights[0].T if network.tied_weights else network.weights[1]
        decoder = Network([network.layer_sizes[1], network.layer_sizes[2]], output=network.output,
                          loss=network.loss_name, dtype=network.dtype, seed=0)
        decoder.set_parameters([matrix], [network.biases[1]])
        return decoder

    def inverse_transform(self, H):
        """Decode hidden activations H (n_samples, n_hidden) into reconstructed inputs."""
        self._check_is_fitted()
        H = checks.check_X(H, self.network_.dtype, self, n_features=self.network_.layer_sizes[1], name="H")
        return self._decoder().forward(H)

    def reconstruct(self, X):
        """Encode then decode X in one native forward pass (equals ``inverse_transform(transform(X))``
        up to float rounding)."""
        X = self._checked_input(X)
        return self.network_.forward(X)

    def score(self, X, y=None):
        """Negative reconstruction error: −(mean over samples of ½‖x̂ − x‖²); higher is better."""
        X = self._checked_input(X)
        return -reconstruction_error(self.network_.forward(X), X)
