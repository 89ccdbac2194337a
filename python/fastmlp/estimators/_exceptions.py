"""Errors the estimators raise beyond the built-in ones."""
from __future__ import annotations

import functools
import sys


class _RebuiltAlsoSklearn:
    """Pickled and copied by rebuilding through :func:`also_sklearn`: where scikit-learn is loaded (a copy, or
    the process that unpickles it) the copy is scikit-learn's class too, elsewhere fastmlp's own. (A combined
    class cannot be pickled by reference: its name is that of fastmlp's class.) Attributes such as
    ``__notes__`` are kept."""

    def __reduce__(self):
        plain = type(self).__dict__.get("_fastmlp_class", type(self))
        return _rebuild, (plain, self.args), self.__dict__ or None


def _rebuild(cls, args):
    return also_sklearn(cls)(*args)


class NotFittedError(_RebuiltAlsoSklearn, ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    Subclasses both ValueError and AttributeError, like scikit-learn's ``NotFittedError``, so code written
    for either (including scikit-learn's own checks) catches it.
    """


def not_fitted_error(*args):
    """A :class:`NotFittedError` to raise. When scikit-learn is loaded, it is of a subclass that is also
    scikit-learn's own ``NotFittedError``, so ``except sklearn.exceptions.NotFittedError`` and scikit-learn's
    checks catch it as well. fastmlp never imports scikit-learn for this: where it is not loaded, nothing can
    be catching its class."""
    return also_sklearn(NotFittedError)(*args)


class DataConversionWarning(_RebuiltAlsoSklearn, UserWarning):
    """The input was accepted in another form than expected (a column-vector y, flattened), as scikit-learn's
    ``DataConversionWarning`` says it; :func:`also_sklearn` makes it that class too where scikit-learn is
    loaded, so its filters and checks see it."""


def also_sklearn(cls):
    """``cls`` (a fastmlp exception or warning named like one in ``sklearn.exceptions``) or, when scikit-learn is
    loaded, a subclass of it that is also scikit-learn's class of that name. A scikit-learn class that cannot
    be combined with ours (not scikit-learn's usual one) leaves ours alone."""
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    sklearn_class = getattr(sklearn_exceptions, cls.__name__, None)
    if isinstance(sklearn_class, type) and issubclass(sklearn_class, Warning if issubclass(cls, Warning)
                                                      else Exception):
        try:
            return _combined(cls, sklearn_class)
        except TypeError:
            pass
    return cls


@functools.lru_cache(maxsize=None)
def _combined(cls, sklearn_class):
    """cls and scikit-learn's, in one class (TypeError if the two cannot be combined)."""
    return type(cls.__name__, (cls, sklearn_class),
                {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
                 "_fastmlp_class": cls})


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite.

    The estimator stays usable: its parameters are those from before the failing epoch (with early
    stopping, the best ones seen). The usual cure is a smaller ``learning_rate``.
    """
