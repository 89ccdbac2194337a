"""Softmax regression: multinomial logistic regression on the raw features, a network without hidden
layers (``Network([n_features, n_classes], output="softmax")``)."""
from __future__ import annotations

from ._base import CLASSIFIER_ATTRIBUTES_DOC, FITTED_ATTRIBUTES_DOC, TRAINING_PARAMETERS_DOC
from ._classifier import BaseNetworkClassifier


class SoftmaxRegression(BaseNetworkClassifier):
    __doc__ = f"""Softmax regression classifier (no hidden layer).

    Minimises the mean over samples of the softmax cross-entropy, plus
    ``(weight_decay/2)·‖W‖²``. Labels may be any sortable values; see ``classes_``.

    Parameters
    ----------
{TRAINING_PARAMETERS_DOC}
    Attributes
    ----------
{CLASSIFIER_ATTRIBUTES_DOC}{FITTED_ATTRIBUTES_DOC}
    Examples
    --------
    >>> from fastmlp import SoftmaxRegression
    >>> clf = SoftmaxRegression(max_epochs=20, random_state=0).fit(X_train, y_train)  # doctest: +SKIP
    >>> clf.score(X_test, y_test)  # doctest: +SKIP
    """

    def __init__(self, *, solver="adam", learning_rate=None, batch_size=200, max_epochs=200,
                 weight_decay=0.0, shuffle=True, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, random_state=None, verbose=False, dtype="float32",
                 momentum=0.9, nesterov=False, callbacks=None, warm_start=False):
        self._set_hyperparameters(locals())
