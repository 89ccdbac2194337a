"""scikit-learn-style estimators on the native :class:`fastmlp.Network`.

* :class:`SoftmaxRegression`: softmax classifier on the raw features (no hidden layer).
* :class:`MLPClassifier`: hidden layers of any depth, softmax output.
* :class:`Autoencoder`: (sparse) autoencoder; a transformer whose features feed other models.
* :func:`load`: read a model written by ``estimator.save(path)``.

They follow scikit-learn's conventions (``__init__`` only stores hyper-parameters, fitted attributes end
in ``_``, ``get_params``/``set_params``, clone-able, usable in ``Pipeline`` and ``GridSearchCV``) without
needing scikit-learn installed.
"""
from ._autoencoder import Autoencoder
from ._exceptions import DataConversionWarning, NotFittedError, TrainingDivergedError
from ._mlp import MLPClassifier
from ._persistence import load
from ._softmax import SoftmaxRegression

__all__ = ["Autoencoder", "DataConversionWarning", "MLPClassifier", "NotFittedError", "SoftmaxRegression",
           "TrainingDivergedError", "load"]
