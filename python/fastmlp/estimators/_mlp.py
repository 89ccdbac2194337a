"""The multi-layer perceptron classifier: any number of hidden layers, softmax output, cross-entropy."""
from __future__ import annotations

import numbers

import numpy as np

from .._params import HIDDEN_ACTIVATIONS
from . import _checks as checks
from ._base import CLASSIFIER_ATTRIBUTES_DOC, FITTED_ATTRIBUTES_DOC, TRAINING_PARAMETERS_DOC
from ._classifier import BaseNetworkClassifier


class MLPClassifier(BaseNetworkClassifier):
    __doc__ = f"""Multi-layer perceptron classifier: fully-connected hidden layers, softmax output.

    Minimises the mean over samples of the softmax cross-entropy, plus
    ``(weight_decay/2)·Σ‖W‖²`` over the weight matrices. Weights start Glorot-uniform, biases at zero,
    unless ``fit(..., init_from=autoencoder)`` copies a trained encoder into the first hidden layer.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Width of each hidden layer, input side first; ``()`` is softmax regression.
    activation : {{"sigmoid", "tanh", "relu", "identity"}}, default="sigmoid"
        Activation of every hidden layer.
{TRAINING_PARAMETERS_DOC}
    Attributes
    ----------
{CLASSIFIER_ATTRIBUTES_DOC}{FITTED_ATTRIBUTES_DOC}
    Examples
    --------
    >>> from fastmlp import MLPClassifier
    >>> clf = MLPClassifier((256,), max_epochs=10, random_state=0).fit(X_train, y_train)  # doctest: +SKIP
    >>> clf.predict(X_test[:5])  # doctest: +SKIP
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="sigmoid", *, solver="adam", learning_rate=None,
                 batch_size=200, max_epochs=200, weight_decay=0.0, shuffle=True, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4, random_state=None, verbose=False,
                 dtype="float32", momentum=0.9, nesterov=False, callbacks=None, warm_start=False):
        self._set_hyperparameters(locals())

    def _hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
            sizes = (sizes,)
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise ValueError(f"hidden_layer_sizes must be an int or a tuple of ints, got {sizes!r}")
        sizes = tuple(sizes)
        for size in sizes:
            if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(f"hidden_layer_sizes must hold positive ints, got {self.hidden_layer_sizes!r}")
        return tuple(int(s) for s in sizes)

    def _hidden_activation(self):
        return self.activation

    def _check_model_hyperparameters(self):
        self._hidden_layer_sizes()
        checks.check_choice(self.activation, "activation", HIDDEN_ACTIVATIONS)

    def fit(self, X, y, init_from=None, comm=None):
        """Train on X (n_samples, n_features) and labels y; returns self.

        ``init_from``: a fitted :class:`Autoencoder` (or any fitted fastmlp estimator with a hidden
        layer) whose first layer — encoder weights (n_hidden, n_features) and biases — is copied into
        this network's first hidden layer before training, the rest being initialised as usual. Its
        width must equal ``hidden_layer_sizes[0]``, its input size the number of features and its
        activation ``activation``. With ``init_from`` a new network is always built (warm_start ignored).

        ``comm``: an MPI communicator (mpi4py) for data-parallel training; X, y are then this rank's
        shard (see :func:`fastmlp.distributed.shard`), ``batch_size`` the per-rank batch, and the
        gradients are averaged over the ranks after every mini-batch.
        """
        return self._fit_labels(X, y, init_from=init_from, comm=comm)

    def _initialise_from(self, network, source):
        source_net = getattr(source, "network_", None)
        if source_net is None or not hasattr(source_net, "weights"):
            raise ValueError(f"init_from must be a fitted fastmlp estimator such as an Autoencoder, "
                             f"got {source!r}")
        if len(network.layer_sizes) < 3 or len(source_net.layer_sizes) < 3:
            raise ValueError("init_from copies a first hidden layer: both this MLPClassifier and init_from "
                             "need at least one hidden layer")
        encoder_weights, encoder_biases = source_net.weights[0], source_net.biases[0]
        first_weights, first_biases = network.weights[0], network.biases[0]
        if encoder_weights.shape != first_weights.shape:
            raise ValueError(f"init_from's first layer maps {encoder_weights.shape[1]} inputs to "
                             f"{encoder_weights.shape[0]} units, but this MLPClassifier's first hidden layer "
                             f"maps {first_weights.shape[1]} inputs to {first_weights.shape[0]} units")
        if source_net.hidden_activation != network.hidden_activation:
            raise ValueError(f"init_from's hidden units use activation={source_net.hidden_activation!r}, "
                             f"this MLPClassifier uses activation={network.hidden_activation!r}")
        first_weights[:] = encoder_weights  # live views of the native parameters
        first_biases[:] = encoder_biases
