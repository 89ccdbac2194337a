"""Errors the estimators raise beyond the built-in ones."""
from __future__ import annotations

import functools
import sys


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    Subclasses both ValueError and AttributeError, like scikit-learn's ``NotFittedError``, so code written
    for either (including scikit-learn's own checks) catches it.
    """

    def __reduce__(self):
        # rebuilt through not_fitted_error: where scikit-learn is loaded (a copy, or the process that unpickles
        # it) it is scikit-learn's NotFittedError too, elsewhere fastmlp's own; attributes such as __notes__ kept
        return not_fitted_error, self.args, self.__dict__ or None


def not_fitted_error(*args):
    """A :class:`NotFittedError` to raise. When scikit-learn is loaded, it is of a subclass that is also
    scikit-learn's own ``NotFittedError``, so ``except sklearn.exceptions.NotFittedError`` and scikit-learn's
    checks catch it as well. fastmlp never imports scikit-learn for this: where it is not loaded, nothing can
    be catching its class."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    sklearn_class = getattr(sklearn_exceptions, "NotFittedError", None)
    if isinstance(sklearn_class, type) and issubclass(sklearn_class, Exception):
        try:
            return _also_sklearn(sklearn_class)(*args)
        except TypeError:  # a class that cannot be combined with ours (not scikit-learn's usual one): ours alone
            pass
    return NotFittedError(*args)


@functools.lru_cache(maxsize=None)
def _also_sklearn(sklearn_class):
    """NotFittedError and scikit-learn's, in one class (TypeError if the two cannot be combined)."""
    return type("NotFittedError", (NotFittedError, sklearn_class),
                {"__module__": NotFittedError.__module__, "__qualname__": NotFittedError.__qualname__,
                 "__doc__": NotFittedError.__doc__})


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite.

    The estimator stays usable: its parameters are those from before the failing epoch (with early
    stopping, the best ones seen). The usual cure is a smaller ``learning_rate``.
    """
