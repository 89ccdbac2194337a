"""Errors the estimators raise beyond the built-in ones."""
from __future__ import annotations


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    Subclasses both ValueError and AttributeError, like scikit-learn's ``NotFittedError``, so code written
    for either (including scikit-learn's own checks) catches it.
    """


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite.

    The estimator stays usable: its parameters are those from before the failing epoch (with early
    stopping, the best ones seen). The usual cure is a smaller ``learning_rate``.
    """
