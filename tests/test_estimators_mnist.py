"""Training to known accuracy on real MNIST (the official 60k/10k files from shared/data/mnist, or from
$FASTMLP_TEST_DATA which names the folder holding mnist/). Skips cleanly when the files are absent.

Each configuration is deterministic (fixed random_state and thread count) and leaves a margin over its
threshold: measured test accuracies are in the comments."""
import os
import time
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp import Autoencoder, MLPClassifier, SoftmaxRegression

pytestmark = pytest.mark.slow


def mnist_folder():
    env = os.environ.get("FASTMLP_TEST_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return base / "mnist" if (base / "mnist").is_dir() else base


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    """{"train": (X, y), "test": (X, y)}: float32 pixels in [0, 1], int64 labels."""
    folder = mnist_folder()
    if not any((folder / name).is_file() for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
        pytest.skip(f"MNIST files not found in {folder}")
    from fastmlp.datasets import load_mnist

    with pytest.MonkeyPatch.context() as patch:  # keep the loader's array cache out of the user's home
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        return {split: load_mnist(split, data_dir=folder, download=False, progress=False)
                for split in ("train", "test")}


def timed_fit(estimator, X, y=None):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def test_softmax_regression_reaches_91_percent(mnist):
    (X, y), (X_test, y_test) = mnist["train"], mnist["test"]
    clf = SoftmaxRegression(solver="adam", learning_rate=0.001, batch_size=200, max_epochs=5, random_state=0)
    seconds = timed_fit(clf, X, y)
    accuracy = clf.score(X_test, y_test)
    print(f"SoftmaxRegression: test accuracy {accuracy:.4f} after {clf.n_iter_} epochs in {seconds:.1f} s")
    assert accuracy >= 0.91  # measured 0.9187
    assert clf.n_iter_ == 5 and clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_sigmoid_mlp_784_256_10_reaches_97_percent(mnist, tmp_path):
    (X, y), (X_test, y_test) = mnist["train"], mnist["test"]
    clf = MLPClassifier((256,), activation="sigmoid", solver="adam", learning_rate=0.002, batch_size=128,
                        max_epochs=10, random_state=0)
    seconds = timed_fit(clf, X, y)
    accuracy = clf.score(X_test, y_test)
    print(f"MLPClassifier 784-256-10: test accuracy {accuracy:.4f} after {clf.n_iter_} epochs "
          f"in {seconds:.1f} s")
    assert clf.network_.layer_sizes == (784, 256, 10)
    assert accuracy >= 0.97  # measured 0.9786
    # a saved and reloaded model predicts bit-identically on real data
    clf.save(tmp_path / "mlp.npz")
    loaded = fastmlp.load(tmp_path / "mlp.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))


def test_early_stopping_on_the_classic_validation_split(mnist):
    """Hold out 5k of the training images: the best validation epoch is restored."""
    (X, y), (X_test, y_test) = mnist["train"], mnist["test"]
    clf = SoftmaxRegression(solver="adam", learning_rate=0.003, max_epochs=30, early_stopping=True,
                            validation_fraction=1 / 12, n_iter_no_change=3, random_state=0)
    timed_fit(clf, X, y)
    assert clf.n_iter_ < 30 and clf.best_validation_score_ == max(clf.validation_scores_) >= 0.91
    assert clf.score(X_test, y_test) >= 0.91


def test_sparse_autoencoder_features_then_softmax(mnist):
    """The "AE features + softmax" experiment on a 10k-image subset."""
    (X, y), (X_test, y_test) = mnist["train"], mnist["test"]
    X, y = X[:10000], y[:10000]
    ae = Autoencoder(196, sparsity_target=0.1, sparsity_weight=0.1, solver="adam", learning_rate=0.003,
                     max_epochs=10, random_state=0).fit(X)
    assert ae.score(X_test) > -10.0  # mean ½‖x̂−x‖² per image (the mean image scores about −26)
    clf = SoftmaxRegression(learning_rate=0.003, max_epochs=30, random_state=0).fit(ae.transform(X), y)
    accuracy = clf.score(ae.transform(X_test), y_test)
    print(f"AE features + softmax (10k train): test accuracy {accuracy:.4f}")
    assert accuracy >= 0.9
