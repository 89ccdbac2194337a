"""What the softmax classifiers share: class labels, predict / predict_proba / score and the
accuracy used for early stopping.

Labels may be any sortable values (ints, strings, ...): ``classes_`` is ``np.unique(y)`` and the
network sees each label's index in it as int32, which the native core takes directly with a softmax
output (no one-hot matrix is built). The loss is the mean over samples of the softmax cross-entropy,
plus the weight-decay penalty.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _checks as checks
from ._base import BaseNetworkEstimator


def _label_kind(labels):
    """'text', 'number' or None for an array of class labels (an object array by its first element)."""
    kind = labels.dtype.kind
    if kind == "O" and labels.size:
        first = labels.flat[0]
        kind = "U" if isinstance(first, str) else "f" if isinstance(first, numbers.Number) else "O"
    return "text" if kind in "US" else "number" if kind in "biuf" else None

class BaseNetworkClassifier(BaseNetworkEstimator):
    """Softmax output, cross-entropy loss, arbitrary labels."""

    _estimator_type = "classifier"

    def _hidden_layer_sizes(self):
        """Widths of the hidden layers (checked); none for softmax regression."""
        return ()

    def _hidden_activation(self):
        return "sigmoid"  # unused without hidden layers, but Network needs a valid name

    def _network_spec(self, n_features, n_outputs):
        return dict(layer_sizes=(n_features, *self._hidden_layer_sizes(), n_outputs),
                    hidden_activation=self._hidden_activation(), output="softmax", loss="cross_entropy",
                    sparsity_target=None, sparsity_weight=0.0, tied_weights=False)

    def _validation_metric(self, network, X, codes):
        return float(np.mean(np.argmax(network.forward(X), axis=1) == codes))

    # ------------------------------------------------------------------ fitting
    def _fit_labels(self, X, y, partial=False, classes=None, init_from=None, comm=None):
        options, continuing, X = self._begin_fit(X, partial=partial, init_from=init_from, comm=comm)
        y = checks.check_class_labels(y, X.shape[0], self)
        if comm is not None and classes is None:  # a shard may lack some labels: the union over the ranks
            classes = np.concatenate(comm.allgather(checks.unique_labels(y)))
        if continuing:
            if classes is not None and not np.array_equal(checks.unique_labels(classes, "classes"),
                                                          self.classes_):
                raise ValueError(f"classes={checks.unique_labels(classes, 'classes').tolist()!r} differs "
                                 f"from classes_ {self.classes_.tolist()!r} of the earlier fit")
            codes = checks.encode_labels(y, self.classes_)
        else:
            if partial and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit "
                                 "(all the labels that will ever occur, e.g. classes=np.unique(y_all))")
            all_classes = checks.unique_labels(*((y,) if classes is None else (classes, "classes")))
            codes = checks.encode_labels(y, all_classes)
        n_classes = len(self.classes_) if continuing else len(all_classes)
        return self._train(X, codes, n_classes, options, continuing, partial=partial, init_from=init_from,
                           new_attributes=None if continuing else {"classes_": all_classes})

    def fit(self, X, y, comm=None):
        """Train on X (n_samples, n_features) and labels y (n_samples,); returns self.

        ``comm``: an MPI communicator (mpi4py) for data-parallel training; X, y are then this rank's
        shard (see :func:`fastmlp.distributed.shard`) and ``batch_size`` the per-rank batch.
        """
        return self._fit_labels(X, y, comm=comm)

    def partial_fit(self, X, y, classes=None):
        """One epoch on (X, y), continuing from the current state; returns self.

        ``classes`` (every label that will occur) is required on the first call. The early-stopping
        split, callbacks and progress display do not apply to partial_fit.
        """
        return self._fit_labels(X, y, partial=True, classes=classes)

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``, in the
        model's dtype."""
        X = self._checked_input(X)
        return self.network_.forward(X)

    def predict(self, X):
        """The most probable class label of each sample."""
        probabilities = self.predict_proba(X)  # checks first that the model is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]

    def score(self, X, y):
        """Accuracy: the fraction of samples whose predicted label equals y."""
        predicted = self.predict(X)
        y = checks.check_class_labels(y, predicted.shape[0], self, warn_column=False)
        if {_label_kind(y), _label_kind(self.classes_)} == {"text", "number"}:  # never equal: accuracy 0
            raise ValueError(f"y holds labels of dtype {y.dtype}, but the classifier was trained on labels of "
                             f"dtype {self.classes_.dtype} (classes_ = {self.classes_[:5].tolist()}"
                             f"{', ...' if len(self.classes_) > 5 else ''})")
        return float(np.mean(predicted == y))
