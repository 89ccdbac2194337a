"""save(path) / fastmlp.load(path): one .npz file without pickle, written atomically, bit-identical
predictions after loading, clear errors for damaged or foreign files."""
import json
import os
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import Autoencoder, MLPClassifier, NotFittedError, SoftmaxRegression


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0.2, 0.8, size=(3, 5))
    X = np.clip(np.concatenate([c + 0.1 * rng.standard_normal((30, 5)) for c in centers]), 0, 1)
    return X, np.repeat(np.arange(3), 30)


@pytest.fixture(scope="module")
def data():
    return blobs()


def fitted_models(X, y):
    return {
        "softmax-strings": (SoftmaxRegression(early_stopping=True, max_epochs=15, random_state=0)
                            .fit(X, np.array(["setosa", "versicolor", "virginica"])[y])),
        "mlp-ints": MLPClassifier((7, 4), activation="tanh", dtype="float64", max_epochs=10,
                                  random_state=0).fit(X, np.array([-1, 5, 9])[y]),
        "ae-tied": Autoencoder(3, tied_weights=True, max_epochs=10, random_state=0).fit(X),
        "ae-plain": Autoencoder(4, sparsity_weight=0.0, loss="binary_cross_entropy", max_epochs=10,
                                random_state=0).fit(X),
    }


def outputs(model, X):
    if hasattr(model, "predict_proba"):
        return [model.predict_proba(X), model.predict(X)]
    return [model.transform(X), model.reconstruct(X), model.inverse_transform(model.transform(X))]


@pytest.mark.parametrize("name", ["softmax-strings", "mlp-ints", "ae-tied", "ae-plain"])
def test_round_trip_is_bit_identical(data, tmp_path, name):
    X, y = data
    model = fitted_models(X, y)[name]
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastmlp.load(path)
    assert type(loaded) is type(model)
    for before, after in zip(outputs(model, X), outputs(loaded, X)):
        assert before.dtype == after.dtype
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(loaded.network_.get_flat(), model.network_.get_flat())
    assert loaded.get_params() == model.get_params()
    for attribute in ("n_features_in_", "n_iter_", "loss_curve_", "history_", "validation_scores_",
                      "best_validation_score_", "best_loss_"):
        assert getattr(loaded, attribute) == getattr(model, attribute)
    if hasattr(model, "classes_"):
        assert loaded.classes_.dtype == model.classes_.dtype
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert repr(loaded.network_) == repr(model.network_)


def test_a_loaded_model_trains_on_like_the_original(data, tmp_path):
    X, y = data
    model = MLPClassifier((5,), max_epochs=5, tol=0.0, random_state=0).fit(X, y)
    model.save(tmp_path / "m.npz")
    loaded = fastmlp.load(tmp_path / "m.npz")
    # optimizer state is not saved, so continue both with plain sgd: the shuffle order is restored too
    for est in (model, loaded):
        est.set_params(warm_start=True, solver="sgd", learning_rate=0.1).fit(X, y)
    np.testing.assert_array_equal(loaded.network_.get_flat(), model.network_.get_flat())
    assert loaded.n_iter_ == model.n_iter_ == 10


def test_object_labels_and_unstorable_params(data, tmp_path):
    X, y = data
    labels = np.array(["a", "b", "c"], dtype=object)[y]
    model = SoftmaxRegression(callbacks=[lambda r: None], random_state=np.random.default_rng(1),
                              max_epochs=3).fit(X, labels)
    model.save(tmp_path / "m.npz")
    loaded = fastmlp.load(tmp_path / "m.npz")
    assert loaded.classes_.dtype == object and list(loaded.classes_) == ["a", "b", "c"]
    assert loaded.callbacks is None and loaded.random_state is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_paths_with_spaces_and_unicode(data, tmp_path):
    X, y = data
    folder = tmp_path / "mödels with spaces" / "日本"
    folder.mkdir(parents=True)
    path = folder / "my clässifier ü.npz"
    model = SoftmaxRegression(max_epochs=3, random_state=0).fit(X, y)
    model.save(str(path))
    np.testing.assert_array_equal(fastmlp.load(str(path)).predict(X), model.predict(X))
    assert sorted(os.listdir(folder)) == ["my clässifier ü.npz"]  # no temporary file left behind


def test_save_writes_exactly_the_given_path(data, tmp_path):
    X, y = data
    model = SoftmaxRegression(max_epochs=2, random_state=0).fit(X, y)
    model.save(tmp_path / "no-suffix")
    assert os.listdir(tmp_path) == ["no-suffix"]
    assert zipfile.is_zipfile(tmp_path / "no-suffix")


def test_the_file_holds_no_pickle_and_a_json_header(data, tmp_path):
    X, y = data
    SoftmaxRegression(max_epochs=2, random_state=0).fit(X, np.array(["x", "y", "z"])[y]).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["classes", "header", "params"]
        header = json.loads(archive["header"].tobytes())
    assert header["format"] == "fastmlp-estimator" and header["format_version"] == 1
    assert header["class"] == "SoftmaxRegression" and header["fastmlp_version"] == fastmlp.__version__
    assert header["params"]["max_epochs"] == 2 and header["fitted"]["n_features_in_"] == 5


def test_saving_an_unfitted_model_fails(tmp_path):
    with pytest.raises(NotFittedError):
        MLPClassifier().save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- atomic writes
@pytest.mark.parametrize("failure", ["mid-write", "fsync", "rename"])
def test_a_failed_save_leaves_the_previous_file_intact(data, tmp_path, monkeypatch, failure):
    X, y = data
    path = tmp_path / "model.npz"
    old = SoftmaxRegression(max_epochs=2, random_state=0).fit(X, y)
    old.save(path)
    old_bytes = path.read_bytes()
    new = MLPClassifier((4,), max_epochs=2, random_state=1).fit(X, y)

    if failure == "mid-write":
        real_savez = np.savez

        def savez_then_fail(file, **arrays):
            real_savez(file, **arrays)
            file.seek(file.tell() // 2)
            file.truncate()
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(np, "savez", savez_then_fail)
    elif failure == "fsync":
        def failing_fsync(fd):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fsync", failing_fsync)
    else:
        def failing_replace(src, dst):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(os, "replace", failing_replace)

    with pytest.raises(OSError):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["model.npz"]  # the temporary file was removed
    np.testing.assert_array_equal(fastmlp.load(path).predict(X), old.predict(X))


def test_keyboard_interrupt_during_save_cleans_up(data, tmp_path, monkeypatch):
    X, y = data
    model = SoftmaxRegression(max_epochs=2, random_state=0).fit(X, y)

    def interrupted(file, **arrays):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_save_overwrites_an_existing_file(data, tmp_path):
    X, y = data
    path = tmp_path / "m.npz"
    SoftmaxRegression(max_epochs=2, random_state=0).fit(X, y).save(path)
    Autoencoder(2, max_epochs=2, random_state=0).fit(X).save(path)
    assert isinstance(fastmlp.load(path), Autoencoder)


# ---------------------------------------------------------------------------- damaged and foreign files
@pytest.fixture
def saved(data, tmp_path):
    X, y = data
    path = tmp_path / "good.npz"
    SoftmaxRegression(max_epochs=2, random_state=0).fit(X, y).save(path)
    return path


def rewrite(path, tmp_path, change):
    """A copy of the saved archive with ``change(arrays, header)`` applied."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["header"].tobytes())
    change(arrays, header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    out = tmp_path / "changed.npz"
    np.savez(out, **arrays)
    return out


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastmlp.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "flipped"])
def test_damaged_files_raise_value_error(saved, damage):
    content = saved.read_bytes()
    if damage == "truncated":
        content = content[: len(content) // 2]
    elif damage == "garbage":
        content = os.urandom(2000)
    elif damage == "empty":
        content = b""
    else:  # corrupt the compressed-data area (zip CRC or parse failure)
        middle = len(content) // 3
        content = content[:middle] + bytes(b ^ 0xFF for b in content[middle:middle + 64]) + content[middle + 64:]
    saved.write_bytes(content)
    with pytest.raises(ValueError, match="fastmlp model file"):
        fastmlp.load(saved)


def test_foreign_files_raise_value_error(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    with pytest.raises(ValueError, match="no fastmlp header"):
        fastmlp.load(tmp_path / "other.npz")
    np.save(tmp_path / "array.npy", np.ones(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        fastmlp.load(tmp_path / "array.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="fastmlp model file"):
        fastmlp.load(tmp_path / "text.npz")


def test_members_that_are_not_arrays(tmp_path):
    with zipfile.ZipFile(tmp_path / "text.npz", "w") as archive:
        archive.writestr("header.npy", "not an array")
        archive.writestr("params.npy", "nor this")
    with pytest.raises(ValueError, match="not a NumPy array"):
        fastmlp.load(tmp_path / "text.npz")


def test_pickled_content_is_never_unpickled(tmp_path, monkeypatch):
    import pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("load tried to unpickle")

    np.savez(tmp_path / "evil.npz", header=np.array([{"format": "fastmlp-estimator"}], dtype=object),
             params=np.array([object()], dtype=object))
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    with pytest.raises(ValueError, match="fastmlp model file"):
        fastmlp.load(tmp_path / "evil.npz")


@pytest.mark.parametrize("change, match", [
    (lambda a, h: h.update(format="something-else"), "not a fastmlp model file"),
    (lambda a, h: h.update(format_version=99), "format version 99.*upgrade fastmlp"),
    (lambda a, h: h.update({"class": "RandomForest"}), "unknown estimator class 'RandomForest'"),
    (lambda a, h: h["params"].update(bogus=1), "damaged.*bogus"),
    (lambda a, h: h["fitted"].pop("n_iter_"), "damaged.*n_iter_"),
    (lambda a, h: a.update(params=a["params"][:-1]), "damaged"),
    (lambda a, h: a.update(params=a["params"].astype(np.float64)), "damaged.*float64"),
    (lambda a, h: a.pop("params"), "damaged"),
    (lambda a, h: h["network"]["config"].update(output="nonsense"), "damaged"),
    # checked against the stored vector before anything is allocated: 10^12 parameters declared here
    (lambda a, h: h["network"]["config"].update(layer_sizes=[1_000_000, 1_000_000]), "does not match"),
    (lambda a, h: a.update(params=np.full_like(a["params"], np.nan)), "NaN or infinity"),
    (lambda a, h: a.update(classes=a["classes"][:2]), "classes of shape"),
    (lambda a, h: h.pop("classes_dtype"), "classes_dtype"),
])
def test_inconsistent_files_raise_value_error(saved, tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        fastmlp.load(rewrite(saved, tmp_path, change))


def test_an_unchanged_rewrite_loads(saved, tmp_path):
    """The rewrite helper itself keeps a valid file valid (so the cases above fail for their change)."""
    assert isinstance(fastmlp.load(rewrite(saved, tmp_path, lambda a, h: None)), SoftmaxRegression)
