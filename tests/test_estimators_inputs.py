"""Hyper-parameter handling (stored by __init__, checked at fit) and every bad input to the estimators:
each must fail with a clear error that names the argument or parameter."""
import numpy as np
import pytest

import fastmlp
from fastmlp import Autoencoder, MLPClassifier, NotFittedError, SoftmaxRegression
from estimator_helpers import FAST, blobs


@pytest.fixture(scope="module")
def data():
    return blobs()


# ---------------------------------------------------------------------------- parameters
def test_init_only_stores_hyperparameters():
    clf = MLPClassifier((3, 2), activation="not checked yet", learning_rate=-1)
    assert clf.hidden_layer_sizes == (3, 2) and clf.learning_rate == -1
    assert not [name for name in vars(clf) if name.endswith("_")]


def test_get_params_set_params_and_repr():
    clf = MLPClassifier((32,), max_epochs=5)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (32,) and params["solver"] == "adam" and len(params) == 19
    assert clf.set_params(solver="sgd", learning_rate=0.1) is clf and clf.solver == "sgd"
    assert repr(clf) == "MLPClassifier(hidden_layer_sizes=(32,), learning_rate=0.1, max_epochs=5, solver='sgd')"
    assert repr(SoftmaxRegression()) == "SoftmaxRegression()"
    with pytest.raises(ValueError, match="Invalid parameter 'n_hidden'"):
        clf.set_params(n_hidden=3)


def test_public_names():
    for name in ("SoftmaxRegression", "MLPClassifier", "Autoencoder", "load", "NotFittedError",
                 "TrainingDivergedError"):
        assert name in fastmlp.__all__ and hasattr(fastmlp, name)


# ---------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("estimator, method", [
    *[(est, m) for est in (SoftmaxRegression(), MLPClassifier())
      for m in ("predict", "predict_proba", "score", "save")],
    *[(Autoencoder(), m) for m in ("transform", "inverse_transform", "reconstruct", "score", "save")],
])
def test_use_before_fit(estimator, method, tmp_path):
    args = {"save": (tmp_path / "m.npz",), "score": (np.zeros((2, 3)), [0, 1])}.get(method, (np.zeros((2, 3)),))
    with pytest.raises(NotFittedError, match="not fitted yet") as info:
        getattr(estimator, method)(*args)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)


@pytest.mark.parametrize("estimator", [SoftmaxRegression(max_epochs=2), Autoencoder(3, max_epochs=2)])
def test_bad_inputs(data, estimator):
    X, y = data
    fitted = estimator.fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but .* is expecting 6 features"):
        fitted.predict(X[:, :5]) if hasattr(fitted, "predict") else fitted.transform(X[:, :5])
    with pytest.raises(ValueError, match="Reshape your data"):
        fitted.fit(X[:, 0], y)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.fit(bad, y)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fitted.fit(bad, y)
    with pytest.raises(ValueError, match="0 sample"):
        fitted.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="Complex data not supported"):
        fitted.fit(X + 1j, y)
    with pytest.raises(TypeError, match="real numbers"):
        fitted.fit(np.full(X.shape, "a"), y)


def test_bad_labels(data):
    X, y = data
    clf = SoftmaxRegression(**FAST)
    with pytest.raises(ValueError, match="requires y"):
        clf.fit(X, None)
    with pytest.raises(ValueError, match="150 samples but y has 149 labels"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(X, X[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(X, np.where(y == 0, np.nan, y))
    with pytest.raises(ValueError, match="1d array"):
        clf.fit(X, np.eye(3)[y])  # one-hot targets
    with pytest.raises(TypeError, match=r"\by mixes labels that cannot be compared"):
        clf.fit(X[:4], np.array([1, "a", 2, "b"], dtype=object))


def test_partial_fit_label_errors(data):
    X, y = data
    clf = SoftmaxRegression(**FAST)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"labels not seen.*\[2\]"):
        clf.partial_fit(X, y, classes=[0, 1])
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels not seen.*\[2\]"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="differs from classes_"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="X has 4 features, but SoftmaxRegression is expecting 6"):
        clf.partial_fit(X[:, :4], y)
    with pytest.raises(ValueError, match="solver='lbfgs'"):
        SoftmaxRegression(solver="lbfgs").partial_fit(X, y, classes=[0, 1, 2])


def test_sparse_input_is_refused(data):
    sparse = pytest.importorskip("scipy.sparse")
    X, y = data
    with pytest.raises(TypeError, match="sparse"):
        SoftmaxRegression(**FAST).fit(sparse.csr_matrix(X), y)


def test_object_arrays_of_numbers_are_accepted(data):
    X, y = data
    clf = SoftmaxRegression(**FAST).fit(X.astype(object), y)
    np.testing.assert_array_equal(clf.predict(X.astype(object)), clf.predict(X))


def test_early_stopping_needs_training_samples():
    with pytest.raises(ValueError, match="validation_fraction"):
        SoftmaxRegression(early_stopping=True, validation_fraction=0.9).fit([[0.0], [1.0]], [0, 1])


def test_a_rejected_fit_leaves_the_fitted_model_unchanged(data):
    X, y = data
    clf = MLPClassifier((5,), **FAST).fit(X, y)
    state = (clf.network_, clf.network_.get_flat(), clf.classes_, clf.n_iter_)
    labels = np.array(["a", "b", "c"])[y]
    with pytest.raises(ValueError, match="validation_fraction"):  # found after the labels were read
        clf.set_params(early_stopping=True, validation_fraction=0.99).fit(X[:3], labels[:3])
    with pytest.raises(ValueError, match="init_from"):  # found after the new network was built
        clf.set_params(early_stopping=False).fit(X, labels, init_from=SoftmaxRegression(**FAST).fit(X, y))
    assert clf.network_ is state[0] and clf.classes_ is state[2] and clf.n_iter_ == state[3]
    np.testing.assert_array_equal(clf.network_.get_flat(), state[1])


@pytest.mark.parametrize("name, value", [
    ("solver", "newton"), ("learning_rate", 0.0), ("learning_rate", -1.0), ("batch_size", 0),
    ("batch_size", 2.5), ("max_epochs", 0), ("weight_decay", -1e-3), ("shuffle", "yes"),
    ("early_stopping", 1), ("validation_fraction", 1.0), ("validation_fraction", 0.0),
    ("n_iter_no_change", 0), ("tol", -1.0), ("tol", float("nan")), ("random_state", -1),
    ("random_state", "seed"), ("verbose", -1), ("dtype", "float16"), ("momentum", 1.0),
    ("nesterov", None), ("callbacks", print), ("callbacks", [1]), ("warm_start", "no"),
    ("hidden_layer_sizes", (10, 0)), ("hidden_layer_sizes", "10"), ("activation", "softmax"),
])
def test_invalid_hyperparameters_are_named_at_fit(data, name, value):
    X, y = data
    clf = MLPClassifier(**{name: value})  # accepted at construction, as scikit-learn requires
    with pytest.raises(ValueError, match=name):
        clf.fit(X, y)


@pytest.mark.parametrize("params, match", [
    (dict(n_hidden=0), "n_hidden"), (dict(output_activation="softmax"), "output_activation"),
    (dict(loss="cross_entropy"), "loss"), (dict(sparsity_target=1.0), "sparsity_target"),
    (dict(sparsity_weight=-1.0), "sparsity_weight"), (dict(tied_weights=1), "tied_weights"),
    (dict(loss="binary_cross_entropy", output_activation="identity"), "output_activation='sigmoid'"),
    (dict(activation="relu"), "activation='sigmoid'"),
])
def test_invalid_autoencoder_hyperparameters(data, params, match):
    X, _ = data
    with pytest.raises(ValueError, match=match):
        Autoencoder(**params).fit(X)


def test_hyperparameters_are_checked_before_the_data():
    with pytest.raises(ValueError, match="max_epochs"):
        SoftmaxRegression(max_epochs=0).fit([1, 2, 3], None)
