"""The estimators as models: classifiers' labels and prediction, the autoencoder's encode/decode, sparsity and
losses, and an MLP initialised from an autoencoder (init_from)."""
import pickle

import numpy as np
import pytest

from estimator_helpers import FAST, blobs
from fastmlp import Autoencoder, MLPClassifier, SoftmaxRegression


@pytest.fixture(scope="module")
def data():
    return blobs()


# ---------------------------------------------------------------------------- classifiers
def test_arbitrary_labels(data):
    X, y = data
    for labels in (np.array(["b", "a", "c"])[y], np.array([10, -3, 7])[y], np.array([1.0, 2.0, 3.0])[y]):
        clf = SoftmaxRegression(learning_rate=0.05, **FAST).fit(X, labels)
        np.testing.assert_array_equal(clf.classes_, np.unique(labels))
        assert set(clf.predict(X)) <= set(clf.classes_)
        assert clf.score(X, labels) > 0.9
        proba = clf.predict_proba(X)
        assert proba.shape == (len(X), 3) and proba.dtype == np.float32
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
        np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


def test_softmax_regression_is_a_network_without_hidden_layers(data):
    X, y = data
    clf = SoftmaxRegression(**FAST).fit(X, y)
    assert clf.network_.layer_sizes == (6, 3) and clf.network_.output == "softmax"
    deep = MLPClassifier((5, 4), activation="relu", **FAST).fit(X, y)
    assert deep.network_.layer_sizes == (6, 5, 4, 3) and deep.network_.hidden_activation == "relu"
    assert MLPClassifier(7, **FAST).fit(X, y).network_.layer_sizes == (6, 7, 3)
    assert MLPClassifier((), **FAST).fit(X, y).network_.layer_sizes == (6, 3)


def test_a_single_class_is_always_predicted(data):
    X, _ = data
    clf = SoftmaxRegression(**FAST).fit(X, ["only"] * len(X))
    assert list(clf.predict(X[:3])) == ["only"] * 3


def test_pickle_round_trip(data):
    X, y = data
    clf = MLPClassifier((5,), **FAST).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


# ---------------------------------------------------------------------------- the autoencoder
@pytest.mark.parametrize("tied", [False, True])
def test_autoencoder_encodes_decodes_and_scores(data, tied):
    X, _ = data
    ae = Autoencoder(4, tied_weights=tied, learning_rate=0.05, max_epochs=60, random_state=0).fit(X)
    H = ae.transform(X)
    assert H.shape == (len(X), 4) and H.dtype == np.float32 and ((H > 0) & (H < 1)).all()
    assert ae.fit_transform(X).shape == H.shape
    decoded = ae.inverse_transform(H)
    np.testing.assert_allclose(decoded, ae.reconstruct(X), rtol=1e-5, atol=1e-6)
    X_hat = ae.reconstruct(X).astype(np.float64)
    X32 = X.astype(np.float32).astype(np.float64)  # the model computes in its dtype
    expected = -np.mean(0.5 * np.sum((X_hat - X32) ** 2, axis=1))
    assert ae.score(X) == pytest.approx(expected, rel=1e-9)
    assert ae.score(X) > -0.5 * np.mean(np.sum((X - X.mean(axis=0)) ** 2, axis=1))  # beats the mean image
    assert len(ae.network_.weights) == (1 if tied else 2)


def test_sparsity_pulls_mean_activations_to_the_target(data):
    X, _ = data
    common = dict(n_hidden=10, solver="adam", learning_rate=0.02, max_epochs=150, tol=0.0, random_state=0)
    plain = Autoencoder(sparsity_weight=0.0, **common).fit(X)
    sparse = Autoencoder(sparsity_target=0.05, sparsity_weight=3.0, **common).fit(X)
    plain_gap = abs(plain.transform(X).mean(axis=0) - 0.05).mean()
    sparse_gap = abs(sparse.transform(X).mean(axis=0) - 0.05).mean()
    assert sparse_gap < 0.5 * plain_gap
    assert plain.network_.sparsity_weight == 0.0 and sparse.network_.sparsity_weight == 3.0


@pytest.mark.parametrize("loss", ["squared_error", "binary_cross_entropy"])
def test_autoencoder_losses(data, loss):
    X, _ = data
    ae = Autoencoder(5, loss=loss, **FAST).fit(X)
    assert ae.network_.loss_name == loss
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]


def test_autoencoder_early_stopping_scores_reconstruction(data):
    X, _ = data
    ae = Autoencoder(4, early_stopping=True, learning_rate=0.05, **FAST).fit(X)
    assert all(s < 0 for s in ae.validation_scores_)
    assert ae.best_validation_score_ == max(ae.validation_scores_)


def test_identity_output_autoencoder(data):
    X, _ = data
    ae = Autoencoder(6, activation="tanh", output_activation="identity", sparsity_weight=0.0,
                     learning_rate=0.01, **FAST).fit(X * 4 - 2)
    assert ae.inverse_transform(ae.transform(X * 4 - 2)).shape == X.shape


# ---------------------------------------------------------------------------- init_from
def test_mlp_initialised_from_an_autoencoder(data):
    X, y = data
    ae = Autoencoder(5, learning_rate=0.05, **FAST).fit(X)
    # a vanishing step leaves the copied first layer as it was
    clf = MLPClassifier((5,), solver="sgd", learning_rate=1e-30, max_epochs=1, random_state=0)
    clf.fit(X, y, init_from=ae)
    np.testing.assert_array_equal(clf.network_.weights[0], ae.network_.weights[0])
    np.testing.assert_array_equal(clf.network_.biases[0], ae.network_.biases[0])
    np.testing.assert_array_equal(clf.network_.hidden(X), ae.transform(X))
    trained = MLPClassifier((5,), learning_rate=0.05, **FAST).fit(X, y, init_from=ae)
    assert trained.score(X, y) > 0.9


def test_init_from_checks_shapes_and_activation(data):
    X, y = data
    ae = Autoencoder(5, **FAST).fit(X)
    with pytest.raises(ValueError, match="maps 6 inputs to 5 units.*6 inputs to 4 units"):
        MLPClassifier((4,), **FAST).fit(X, y, init_from=ae)
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier((5,), activation="tanh", **FAST).fit(X, y, init_from=ae)
    with pytest.raises(ValueError, match="fitted fastmlp estimator"):
        MLPClassifier((5,), **FAST).fit(X, y, init_from=Autoencoder(5))
    with pytest.raises(ValueError, match="hidden layer"):
        MLPClassifier((), **FAST).fit(X, y, init_from=ae)
