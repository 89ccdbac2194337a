"""The estimators against scikit-learn's own API checks, and in scikit-learn tooling (clone, Pipeline,
GridSearchCV). scikit-learn is a test extra only: fastmlp never imports it at run time."""
import warnings

import numpy as np
import pytest

# expected_failed_checks and the Tags API arrived in scikit-learn 1.6
sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastmlp  # noqa: E402
from estimator_helpers import blobs  # noqa: E402
from fastmlp import Autoencoder, MLPClassifier, SoftmaxRegression  # noqa: E402

# Small instances keep the ~150 checks fast; a larger step makes the few epochs enough for the
# accuracy the classifier checks demand (0.83 on blobs).
CHECKED_ESTIMATORS = [
    SoftmaxRegression(max_epochs=50, learning_rate=0.05, random_state=0),
    MLPClassifier((8,), max_epochs=50, learning_rate=0.05, random_state=0),
    Autoencoder(4, max_epochs=20, learning_rate=0.05, random_state=0),
]


# scikit-learn warns once per estimator, while collecting, that it does not inherit BaseEstimator;
# that is by design here (no run-time dependency), so silence exactly that warning.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*does not inherit from.*BaseEstimator", category=UserWarning)
    _sklearn_checks = parametrize_with_checks(CHECKED_ESTIMATORS)


@_sklearn_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_unfitted_errors_and_column_vector_y_in_fastmlps_own_terms():
    """What two of scikit-learn's checks (check_estimators_unfitted, check_supervised_y_2d) ask, through
    fastmlp's own classes."""
    clf = SoftmaxRegression(max_epochs=30, learning_rate=0.05, random_state=0)
    with pytest.raises(ValueError, match="not fitted"):
        clf.predict(np.zeros((2, 3)))
    with pytest.raises(AttributeError, match="not fitted"):
        clf.predict_proba(np.zeros((2, 3)))
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 3))
    y = np.arange(30) % 3
    flat = clone(clf).fit(X, y).predict(X)
    with pytest.warns(fastmlp.DataConversionWarning, match="A column-vector y was passed") as caught:
        column = clone(clf).fit(X, y[:, None]).predict(X)
    np.testing.assert_array_equal(flat, column)
    from sklearn.exceptions import DataConversionWarning as SklearnDataConversionWarning
    assert all(isinstance(w.message, SklearnDataConversionWarning) for w in caught)  # scikit-learn is loaded here
    assert caught[0].filename == __file__  # attributed to the caller's fit
    import copy
    import pickle
    for again in (pickle.loads(pickle.dumps(caught[0].message)), copy.deepcopy(caught[0].message)):
        # e.g. from a process-pool worker where warnings are errors: rebuilt as the combined class again
        assert isinstance(again, SklearnDataConversionWarning) and isinstance(again, fastmlp.DataConversionWarning)
        assert again.args == caught[0].message.args


def test_autoencoder_features_into_softmax_pipeline():
    """The "AE features + softmax" experiment as a scikit-learn Pipeline."""
    X, y = blobs(n_per_class=40)
    pipe = Pipeline([
        ("features", Autoencoder(5, solver="adam", learning_rate=0.02, max_epochs=100, random_state=0)),
        ("softmax", SoftmaxRegression(learning_rate=0.05, max_epochs=200, random_state=0)),
    ])
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.95
    features = pipe.named_steps["features"].transform(X)
    assert features.shape == (len(X), 5)
    np.testing.assert_array_equal(pipe.predict(X), pipe.named_steps["softmax"].predict(features))
    assert pipe.get_params()["features__n_hidden"] == 5
    pipe.set_params(features__n_hidden=3)
    assert pipe.named_steps["features"].n_hidden == 3


def test_grid_search_and_cross_validation():
    X, y = blobs(n_per_class=40)
    search = GridSearchCV(SoftmaxRegression(max_epochs=40, random_state=0),
                          {"learning_rate": [0.001, 0.05]}, cv=3)
    search.fit(X, y)
    assert search.best_params_ == {"learning_rate": 0.05}
    scores = cross_val_score(MLPClassifier((6,), learning_rate=0.05, max_epochs=60, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9


def test_clone_keeps_params_and_drops_fitted_state():
    X, y = blobs(n_per_class=40)
    callbacks = [lambda record: None]
    est = MLPClassifier((7, 5), activation="tanh", solver="momentum", nesterov=True, callbacks=callbacks,
                        max_epochs=3, random_state=1).fit(X, y)
    copy = clone(est)
    assert copy.get_params().keys() == est.get_params().keys()
    assert copy.hidden_layer_sizes == (7, 5) and copy.nesterov is True and len(copy.callbacks) == 1
    assert not hasattr(copy, "network_") and not hasattr(copy, "classes_")


def test_tags_describe_the_estimators():
    from sklearn.base import is_classifier
    from sklearn.utils import get_tags

    assert is_classifier(SoftmaxRegression()) and is_classifier(MLPClassifier())
    assert not is_classifier(Autoencoder())
    tags = get_tags(Autoencoder(dtype="float64"))
    assert tags.transformer_tags.preserves_dtype == ["float64"] and not tags.target_tags.required
    assert get_tags(MLPClassifier()).target_tags.required
    assert not get_tags(SoftmaxRegression()).input_tags.sparse


def test_fastmlp_does_not_import_sklearn():
    """The estimators work without scikit-learn: importing fastmlp loads none of it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, fastmlp; "
            "m = fastmlp.SoftmaxRegression(max_epochs=2).fit(np.eye(4), [0, 1, 0, 1]); m.predict(np.eye(4)); "
            "print(any(name == 'sklearn' or name.startswith('sklearn.') for name in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert fastmlp.SoftmaxRegression.__module__.startswith("fastmlp.")


def test_not_fitted_error_is_also_sklearns_when_sklearn_is_loaded():
    import copy
    import pickle

    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    for catch in (SklearnNotFittedError, fastmlp.NotFittedError, ValueError, AttributeError):
        with pytest.raises(catch, match="not fitted yet"):
            MLPClassifier().predict(np.zeros((2, 3)))
    try:
        SoftmaxRegression().predict_proba(np.zeros((2, 3)))
    except fastmlp.NotFittedError as exc:
        exc.add_note("a note")
        for again in (pickle.loads(pickle.dumps(exc)), copy.copy(exc), copy.deepcopy(exc)):
            # rebuilt as the combined class again (scikit-learn is loaded here), notes and all
            assert isinstance(again, SklearnNotFittedError) and isinstance(again, fastmlp.NotFittedError)
            assert again.args == exc.args and again.__notes__ == ["a note"]


def test_a_sklearn_class_that_cannot_be_combined_leaves_fastmlps_own(monkeypatch):
    import sys
    import types

    # an OSError subclass cannot share a class with ValueError (instance lay-out conflict)
    stub = types.SimpleNamespace(NotFittedError=type("NotFittedError", (OSError,), {}))
    monkeypatch.setitem(sys.modules, "sklearn.exceptions", stub)
    with pytest.raises(fastmlp.NotFittedError) as raised:
        MLPClassifier().predict(np.zeros((2, 3)))
    assert type(raised.value) is fastmlp.NotFittedError


def test_without_sklearn_the_error_is_fastmlps_own_and_sklearn_stays_unloaded():
    import subprocess
    import sys
    code = ("import sys, numpy as np, fastmlp\n"
            "try:\n    fastmlp.MLPClassifier().predict(np.zeros((2, 3)))\n"
            "except fastmlp.NotFittedError as exc:\n    assert type(exc) is fastmlp.NotFittedError, type(exc).__mro__\n"
            "import warnings\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    fastmlp.SoftmaxRegression(max_epochs=1).fit(np.ones((4, 2)), np.array([[0], [1], [0], [1]]))\n"
            "assert [type(w.message) for w in caught] == [fastmlp.DataConversionWarning], caught\n"
            "assert not any(name.startswith('sklearn') for name in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
