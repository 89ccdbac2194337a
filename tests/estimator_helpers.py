"""Small synthetic data and settings shared by the estimator tests."""
import numpy as np

FAST = dict(max_epochs=30, random_state=0)


def blobs(n_per_class=50, n_features=6, n_classes=3, spread=0.08, seed=0):
    """Well-separated Gaussian clusters in [0, 1]^n_features with labels 0..n_classes-1."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0.1, 0.9, size=(n_classes, n_features))
    X = np.concatenate([c + spread * rng.standard_normal((n_per_class, n_features)) for c in centers])
    y = np.repeat(np.arange(n_classes), n_per_class)
    order = rng.permutation(len(y))
    return np.clip(X[order], 0, 1), y[order]
