"""scikit-learn's estimator protocol, implemented without importing scikit-learn at run time.

What scikit-learn needs from an estimator (and what ``clone``, ``Pipeline`` and ``GridSearchCV`` use):
``__init__`` stores each hyper-parameter under its own name and does nothing else; ``get_params`` /
``set_params`` find the hyper-parameters by introspecting the ``__init__`` signature; fitted state lives
in attributes ending in ``_``; ``__sklearn_tags__`` (scikit-learn >= 1.6) or ``_more_tags`` (older)
describes the estimator. ``__sklearn_tags__`` imports scikit-learn, but only scikit-learn ever calls it.
"""
from __future__ import annotations

import inspect

import numpy as np

from ._exceptions import not_fitted_error


def _same_value(a, b):
    """Whether a hyper-parameter value equals its default (for the short repr)."""
    if a is b:
        return True
    if type(a) is not type(b) or isinstance(a, np.ndarray):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an odd value that cannot be compared is simply "not default"
        return False


class EstimatorAPI:
    """get_params / set_params / repr / tags, as scikit-learn's ``BaseEstimator`` provides them."""

    #: "classifier" or None; scikit-learn < 1.6 reads this attribute, newer versions read the tags.
    _estimator_type = None

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        names = []
        for p in signature.parameters.values():
            if p.name == "self" or p.kind == p.VAR_KEYWORD:
                continue
            if p.kind == p.VAR_POSITIONAL:
                raise RuntimeError(f"{cls.__name__}.__init__ must not take *args (scikit-learn convention)")
            names.append(p.name)
        return sorted(names)

    def _set_hyperparameters(self, init_locals):
        """Store every ``__init__`` argument unchanged (call as ``self._set_hyperparameters(locals())``)."""
        for name in self._get_param_names():
            setattr(self, name, init_locals[name])

    def get_params(self, deep=True):
        """The hyper-parameters as a dict (with ``deep``, nested estimators' ones as ``name__param``)."""
        params = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{key}", val) for key, val in value.get_params().items())
            params[name] = value
        return params

    def set_params(self, **params):
        """Set hyper-parameters (no checks: they happen at fit time); returns self."""
        valid = self.get_params(deep=True)
        nested = {}
        for key, value in params.items():
            name, delimiter, sub_key = key.partition("__")
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                                 f"Valid parameters are: {self._get_param_names()!r}.")
            if delimiter:
                nested.setdefault(name, {})[sub_key] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = [f"{name}={getattr(self, name)!r}" for name in self._get_param_names()
                 if not _same_value(getattr(self, name), defaults.get(name, inspect.Parameter.empty))]
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------------ fitted state
    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    def _check_is_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise not_fitted_error(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                   "appropriate arguments before using this estimator.")

    # ------------------------------------------------------------------ tags
    def _more_tags(self):
        """Tags for scikit-learn < 1.6."""
        return {"requires_y": self._estimator_type == "classifier", "allow_nan": False,
                "preserves_dtype": self._preserved_dtypes()}

    def _preserved_dtypes(self):
        return [self.dtype] if self.dtype in ("float32", "float64") else []

    def __sklearn_tags__(self):
        """Tags for scikit-learn >= 1.6 (only scikit-learn calls this, so importing it here is safe)."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags, TransformerTags

        is_classifier = self._estimator_type == "classifier"
        tags = Tags(estimator_type=self._estimator_type, target_tags=TargetTags(required=is_classifier),
                    input_tags=InputTags(two_d_array=True, sparse=False, allow_nan=False))
        if is_classifier:
            tags.classifier_tags = ClassifierTags(multi_class=True, multi_label=False)
        if hasattr(self, "transform"):
            tags.transformer_tags = TransformerTags(preserves_dtype=self._preserved_dtypes())
        return tags
