"""Training behaviour of the estimators on small synthetic data: solvers, stopping rules, warm start, partial_fit,
callbacks, progress and divergence. The models themselves (labels, the autoencoder, init_from) are in
test_estimators_models.py; bad inputs and hyper-parameters in test_estimators_inputs.py."""
import sys

import numpy as np
import pytest

import fastmlp
from estimator_helpers import FAST, blobs
from fastmlp import Autoencoder, MLPClassifier, SoftmaxRegression, TrainingDivergedError


@pytest.fixture(scope="module")
def data():
    return blobs()


def initial_loss(X, y, hidden=()):
    """Training loss of a freshly initialised network of the same shape (a reference starting point)."""
    net = fastmlp.Network([X.shape[1], *hidden, len(np.unique(y))], seed=123)
    return net.loss(X, y.astype(np.int32))


# ---------------------------------------------------------------------------- solvers
@pytest.mark.parametrize("solver, learning_rate", [("sgd", 0.5), ("momentum", 0.05), ("adam", 0.01),
                                                   ("gd", 5.0), ("lbfgs", None)])
def test_each_solver_reduces_the_loss(data, solver, learning_rate):
    if solver == "lbfgs":
        pytest.importorskip("scipy")
    X, y = data
    clf = MLPClassifier((8,), solver=solver, learning_rate=learning_rate, batch_size=16, max_epochs=40,
                        tol=0.0, random_state=0).fit(X, y)
    final = clf.network_.loss(X, y.astype(np.int32))
    assert final < 0.5 * initial_loss(X, y, (8,))
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(X, y) > 0.95
    assert clf.n_iter_ == len(clf.loss_curve_) == len(clf.history_) >= 1


def test_gd_is_sgd_with_the_whole_set_as_one_batch(data):
    X, y = data
    common = dict(learning_rate=0.5, max_epochs=15, tol=0.0, random_state=3)
    gd = SoftmaxRegression(solver="gd", batch_size=7, **common).fit(X, y)  # batch_size unused by gd
    sgd = SoftmaxRegression(solver="sgd", batch_size=len(X), shuffle=False, **common).fit(X, y)
    np.testing.assert_array_equal(gd.network_.get_flat(), sgd.network_.get_flat())
    assert gd.loss_curve_ == sgd.loss_curve_
    # shuffling one full batch only reorders the gradient sum
    shuffled = SoftmaxRegression(solver="sgd", batch_size=len(X), shuffle=True, **common).fit(X, y)
    np.testing.assert_allclose(shuffled.network_.get_flat(), gd.network_.get_flat(), rtol=1e-4, atol=1e-5)


def test_learning_rate_none_means_the_solver_default(data):
    X, y = data
    a = SoftmaxRegression(solver="sgd", max_epochs=3, random_state=0).fit(X, y)
    b = SoftmaxRegression(solver="sgd", learning_rate=0.1, max_epochs=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.network_.get_flat(), b.network_.get_flat())


def test_same_random_state_gives_identical_models(data):
    X, y = data
    a = MLPClassifier((5,), max_epochs=5, random_state=7).fit(X, y)
    b = MLPClassifier((5,), max_epochs=5, random_state=7).fit(X, y)
    c = MLPClassifier((5,), max_epochs=5, random_state=8).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.network_.get_flat(), c.network_.get_flat())


def test_float64_models_compute_in_float64(data):
    X, y = data
    clf = MLPClassifier((5,), dtype="float64", **FAST).fit(X.astype(np.float32), y)
    assert clf.network_.dtype == np.float64 and clf.predict_proba(X).dtype == np.float64


def test_lbfgs_records_one_history_entry_per_iteration(data):
    pytest.importorskip("scipy")
    X, y = data
    seen = []
    clf = SoftmaxRegression(solver="lbfgs", dtype="float64", max_epochs=7, tol=0.0,
                            callbacks=[seen.append], random_state=0).fit(X, y)
    assert clf.n_iter_ == len(seen) == len(clf.loss_curve_) <= 7
    assert all(b <= a + 1e-12 for a, b in zip(clf.loss_curve_, clf.loss_curve_[1:]))  # monotone
    # the last recorded loss is the loss of the parameters the model ended with
    assert clf.network_.loss(X, y.astype(np.int32)) == pytest.approx(clf.loss_curve_[-1], rel=1e-9)


@pytest.mark.parametrize("scale, dtype", [(1e25, "float32"), (1e200, "float64")])
def test_lbfgs_divergence_names_the_iteration(scale, dtype):
    """A loss that overflows at the start (1e25) or at an L-BFGS trial point (1e200)."""
    pytest.importorskip("scipy")
    X = np.random.default_rng(0).uniform(0, 1, (20, 4)) * scale
    ae = Autoencoder(3, output_activation="identity", sparsity_weight=0.0, solver="lbfgs", max_epochs=5,
                     dtype=dtype, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"in iteration \d+ .*scaling the inputs"):
        ae.fit(X)
    assert np.isfinite(ae.network_.get_flat()).all() and len(ae.loss_curve_) == ae.n_iter_


def test_lbfgs_without_scipy_says_what_to_install(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # makes `import scipy.optimize` fail
    X, y = data
    with pytest.raises(ImportError, match=r"pip install fastmlp\[lbfgs\]"):
        SoftmaxRegression(solver="lbfgs").fit(X, y)


# ---------------------------------------------------------------------------- stopping
def test_training_stops_when_the_loss_stalls(data):
    X, y = data
    clf = SoftmaxRegression(learning_rate=1e-9, solver="sgd", max_epochs=100, n_iter_no_change=4, tol=1e-3,
                            random_state=0).fit(X, y)
    assert clf.n_iter_ == 1 + 4  # the first epoch sets the best loss, then 4 fail to beat it by tol


def test_early_stopping_restores_the_best_epoch(data):
    X, y = data
    snapshots = {}
    clf = MLPClassifier((6,), solver="sgd", learning_rate=0.3, early_stopping=True, validation_fraction=0.2,
                        n_iter_no_change=3, tol=0.0, max_epochs=200, random_state=0)
    clf.set_params(callbacks=[lambda record: snapshots.__setitem__(record["epoch"], clf.network_.get_flat())])
    clf.fit(X, y)
    assert clf.n_iter_ < 200
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ and clf.best_validation_score_ == max(scores)
    assert [r["validation_score"] for r in clf.history_] == scores
    best_epoch = int(np.argmax(scores)) + 1  # the first epoch reaching the best score
    np.testing.assert_array_equal(clf.network_.get_flat(), snapshots[best_epoch])
    # the stop came n_iter_no_change epochs after the last improvement
    assert clf.n_iter_ == best_epoch + 3


def test_without_early_stopping_there_are_no_validation_scores(data):
    X, y = data
    clf = SoftmaxRegression(**FAST).fit(X, y)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert all(r["validation_score"] is None for r in clf.history_)
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_history_records(data):
    X, y = data
    clf = SoftmaxRegression(early_stopping=True, **FAST).fit(X, y)
    for i, record in enumerate(clf.history_, start=1):
        assert set(record) == {"epoch", "loss", "validation_score", "seconds"}
        assert record["epoch"] == i and record["seconds"] >= 0 and 0 <= record["validation_score"] <= 1
        assert isinstance(record["loss"], float)


# ---------------------------------------------------------------------------- callbacks and progress
def test_a_callback_returning_true_stops_training(data):
    X, y = data
    records = []

    def stop_at_three(record):
        records.append(record)
        return record["epoch"] == 3

    clf = SoftmaxRegression(callbacks=[stop_at_three], max_epochs=50, tol=0.0, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3 and [r["epoch"] for r in records] == [1, 2, 3]
    assert records == clf.history_
    records[0]["loss"] = -1.0  # callbacks get copies
    assert clf.history_[0]["loss"] != -1.0


def test_callbacks_are_not_called_by_partial_fit(data):
    X, y = data
    calls = []
    clf = SoftmaxRegression(callbacks=[calls.append], random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    assert calls == [] and clf.n_iter_ == 1


def test_an_exception_in_a_callback_propagates(data):
    X, y = data

    def broken(record):
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        SoftmaxRegression(callbacks=[broken], **FAST).fit(X, y)


def test_an_interrupt_keeps_the_epochs_done_and_the_best_parameters(data):
    X, y = data

    def interrupt_at_three(record):
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    clf = SoftmaxRegression(early_stopping=True, callbacks=[interrupt_at_three], tol=0.0, **FAST)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.validation_scores_) == 3
    assert clf.score(X, y) > 0


def test_verbose_uses_tqdm_when_installed(data, capsys):
    pytest.importorskip("tqdm")
    X, y = data
    SoftmaxRegression(verbose=True, max_epochs=3, tol=0.0, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert "SoftmaxRegression" in captured.err and "3/3" in captured.err


def test_verbose_prints_a_line_per_epoch_without_tqdm(data, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    X, y = data
    SoftmaxRegression(verbose=1, early_stopping=True, max_epochs=3, tol=0.0, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("SoftmaxRegression epoch 1/3: loss ") and "validation" in lines[0]


def test_quiet_by_default(data, capsys):
    X, y = data
    SoftmaxRegression(**FAST).fit(X, y)
    assert capsys.readouterr() == ("", "")


# ---------------------------------------------------------------------------- divergence
def test_divergence_raises_a_clear_error_and_keeps_the_model_usable(data):
    X, _ = data
    ae = Autoencoder(4, activation="relu", output_activation="identity", sparsity_weight=0.0, solver="sgd",
                     learning_rate=10.0, batch_size=10, max_epochs=20, random_state=0)
    pattern = r"in epoch \d+ .*smaller learning_rate \(now 10.0\)"
    with pytest.raises(TrainingDivergedError, match=pattern) as info:
        ae.fit(X * 10)
    assert isinstance(info.value, FloatingPointError)
    assert f"in epoch {ae.n_iter_ + 1} " in str(info.value)
    assert ae.n_iter_ == len(ae.history_)  # the epochs before the failing one are recorded
    assert np.isfinite(ae.network_.get_flat()).all()
    assert np.isfinite(ae.transform(X)).all()


def test_overflowing_parameters_count_as_divergence(data):
    """An update can overflow the weights after the last loss of an epoch was computed: that epoch is
    undone as well, so the model never holds non-finite parameters."""
    X, y = data
    clf = SoftmaxRegression(solver="sgd", learning_rate=1e38, max_epochs=20, random_state=0)
    with pytest.raises(TrainingDivergedError, match="epoch 1 "):
        clf.fit(X * 1e3, y)
    assert np.isfinite(clf.network_.get_flat()).all()
    clf.predict(X)


# ---------------------------------------------------------------------------- warm start and partial_fit
def test_warm_start_continues_exactly_where_fit_stopped(data):
    X, y = data
    common = dict(hidden_layer_sizes=(6,), solver="adam", learning_rate=0.01, tol=0.0, random_state=0)
    once = MLPClassifier(max_epochs=10, **common).fit(X, y)
    twice = MLPClassifier(max_epochs=5, **common).fit(X, y)
    twice.set_params(warm_start=True).fit(X, y)
    assert twice.n_iter_ == 10 and len(twice.loss_curve_) == 10
    np.testing.assert_array_equal(twice.network_.get_flat(), once.network_.get_flat())
    assert twice.loss_curve_ == once.loss_curve_


def test_without_warm_start_fit_starts_afresh(data):
    X, y = data
    clf = SoftmaxRegression(max_epochs=4, tol=0.0, random_state=0).fit(X, y)
    first = clf.network_.get_flat()
    clf.fit(X, y)
    assert clf.n_iter_ == 4
    np.testing.assert_array_equal(clf.network_.get_flat(), first)


def test_warm_start_may_change_the_weight_decay_but_not_the_architecture(data):
    X, y = data
    clf = MLPClassifier((6,), warm_start=True, **FAST).fit(X, y)
    clf.set_params(weight_decay=1e-3).fit(X, y)
    assert clf.network_.weight_decay == 1e-3 and clf.n_iter_ == 60
    clf.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match="layer_sizes"):
        clf.fit(X, y)


def test_warm_start_rejects_new_labels(data):
    X, y = data
    clf = SoftmaxRegression(warm_start=True, **FAST).fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="not seen"):
        clf.fit(X, y)


def test_partial_fit_epochs_equal_fit_epochs(data):
    X, y = data
    common = dict(learning_rate=0.05, tol=0.0, random_state=0)
    fitted = MLPClassifier((5,), max_epochs=4, **common).fit(X, y)
    stepped = MLPClassifier((5,), **common)
    for _ in range(4):
        stepped.partial_fit(X, y, classes=[0, 1, 2])
    assert stepped.n_iter_ == 4
    np.testing.assert_array_equal(stepped.network_.get_flat(), fitted.network_.get_flat())


def test_partial_fit_with_a_subset_of_classes_per_call(data):
    X, y = data
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = SoftmaxRegression(learning_rate=0.05, random_state=0)
    for _ in range(30):
        for cls in ("cat", "dog", "emu"):
            part = labels == cls
            clf.partial_fit(X[part], labels[part], classes=["emu", "dog", "cat"])
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert clf.score(X, labels) > 0.6


def test_partial_fit_after_fit_continues(data):
    X, y = data
    clf = SoftmaxRegression(**FAST).fit(X, y)
    epochs, params = clf.n_iter_, clf.network_.get_flat()
    clf.partial_fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == epochs + 1
    assert not np.array_equal(clf.network_.get_flat(), params)


def test_partial_fit_for_the_autoencoder(data):
    X, _ = data
    ae = Autoencoder(4, learning_rate=0.05, random_state=0)
    before = None
    for _ in range(20):
        ae.partial_fit(X)
        before = ae.loss_curve_[0] if before is None else before
    assert ae.n_iter_ == 20 and ae.loss_curve_[-1] < before


def test_score_with_labels_of_another_type_is_an_error_not_zero(data):
    X, y = data
    clf = SoftmaxRegression(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="trained on labels of dtype"):
        clf.score(X, y.astype(str))
    assert clf.score(X, y.astype(float)) == clf.score(X, y)   # integral floats compare equal: fine


def test_warm_start_restarts_the_optimizer_state_when_its_hyper_parameters_change(data):
    """The documented rule: changing a hyper-parameter the optimizer state belongs to (here the learning rate)
    between warm-started fits starts velocity / Adam moments afresh, as a pickled copy (which keeps no
    optimizer state) would; an unchanged one keeps them."""
    import pickle

    X, y = data
    for solver in ("momentum", "adam"):
        make = lambda: MLPClassifier((4,), solver=solver, max_epochs=2, random_state=0,  # noqa: E731
                                     warm_start=True).fit(X, y)
        changed, copy = make(), pickle.loads(pickle.dumps(make()))
        changed.set_params(learning_rate=0.002).fit(X, y)
        copy.set_params(learning_rate=0.002).fit(X, y)
        np.testing.assert_array_equal(changed.network_.get_flat(), copy.network_.get_flat())
        kept, copy = make(), pickle.loads(pickle.dumps(make()))
        kept.fit(X, y)
        copy.fit(X, y)
        assert not np.array_equal(kept.network_.get_flat(), copy.network_.get_flat()), solver


def test_early_stopping_attributes_describe_the_last_fit(data):
    X, y = data
    clf = MLPClassifier((4,), max_epochs=3, n_iter_no_change=10, early_stopping=True, warm_start=True,
                        random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == 3 and clf.best_validation_score_ is not None
    clf.set_params(early_stopping=False).fit(X, y)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert len(clf.history_) == 6
    clf.set_params(early_stopping=True).fit(X, y)
    assert len(clf.validation_scores_) == 3


def test_score_with_object_string_labels_against_numbers_is_an_error(data):
    X, y = data
    names = np.array(["a", "b", "c"], dtype=object)[y]
    clf = SoftmaxRegression(**FAST).fit(X, names)
    with pytest.raises(ValueError, match="trained on labels of dtype"):
        clf.score(X, y)


def test_save_keeps_a_numpy_dtype_and_an_array_of_layer_sizes(data, tmp_path):
    X, y = data
    clf = MLPClassifier(np.array([5, 3]), dtype=np.float64, max_epochs=2, random_state=0).fit(X, y)
    clf.save(tmp_path / "m.npz")
    loaded = fastmlp.load(tmp_path / "m.npz")
    assert loaded.get_params()["dtype"] == "float64" and tuple(loaded.hidden_layer_sizes) == (5, 3)
    loaded.fit(X, y)   # the stored hyper-parameters fit again
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.fit(X, y).predict_proba(X))


def test_plain_input_mistakes_get_named(data):
    X, y = data
    clf = SoftmaxRegression(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="X is None"):
        clf.predict(None)
    with pytest.raises(ValueError, match="beyond the range of float64"):
        clf.predict([[10 ** 400] * X.shape[1]])
    with pytest.raises(ValueError, match="no hidden layer"):
        fastmlp.Network([4, 3]).hidden(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="at most"):
        fastmlp.set_num_threads(2 ** 40)


def test_binary_cross_entropy_targets_must_be_probabilities():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] for the binary cross-entropy"):
        Autoencoder(n_hidden=3, loss="binary_cross_entropy", sparsity_weight=0, max_epochs=2).fit(
            rng.uniform(size=(40, 6)) * 4 - 1)
    net = fastmlp.Network([2, 1], output="sigmoid")
    with pytest.raises(ValueError, match=r"Y must lie in \[0, 1\]"):
        net.loss(np.zeros((3, 2), np.float32), np.full((3, 1), 5.0))
    assert np.isfinite(net.loss(np.zeros((3, 2), np.float32), np.full((3, 1), 1.0)))
