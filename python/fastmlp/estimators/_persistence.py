"""Saving and loading fitted estimators: one ``.npz`` file, no pickle.

Layout of the file (a NumPy ``.npz`` zip archive):

* ``header``: UTF-8 JSON as a uint8 array: ``format`` ("fastmlp-estimator"), ``format_version``,
  ``fastmlp_version``, ``class``, ``params`` (the hyper-parameters; ``callbacks`` and non-integer
  ``random_state`` values are not storable and come back as None, listed in ``dropped_params``),
  ``fitted`` (``n_features_in_``, ``n_iter_``, ``history_`` and the other JSON-able fitted attributes),
  ``network`` (the Network configuration and its shuffle state) and ``classes_dtype``.
* ``params``: the flat parameter vector in the model's dtype, so a loaded model predicts bit-identically.
* ``classes``: ``classes_`` for classifiers (numbers or strings).

Writing is atomic: the archive goes to a temporary file in the target's directory, is flushed and
fsynced, then renamed over the target, so a failed save leaves any previous file untouched. Loading
uses ``allow_pickle=False`` and turns any damaged or foreign file into a ValueError.
"""
from __future__ import annotations

import json
import numbers
import os
import re
import secrets
import time
import zipfile

import numpy as np

from .._params import ParameterLayout
from ..network import Network

FORMAT = "fastmlp-estimator"
FORMAT_VERSION = 1


def _json_value(value):
    """value as plain JSON types, or raise TypeError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, numbers.Number):
        return value
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name  # dtype=np.float64 is stored as "float64", which fit accepts the same
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()  # e.g. hidden_layer_sizes=np.array([64, 32])
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} is not storable")


def _header(estimator):
    from .. import __version__

    params, dropped = {}, []
    for name, value in estimator.get_params(deep=False).items():
        try:
            params[name] = _json_value(value)
        except TypeError:
            params[name], dropped = None, dropped + [name]
    state = estimator.network_.__getstate__()  # the pickling protocol: config, params, shuffle state
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastmlp_version": __version__,
              "class": type(estimator).__name__, "params": params, "dropped_params": dropped,
              "fitted": {name: _json_value(getattr(estimator, name)) for name in estimator._saved_attributes},
              "network": {"config": _json_value(state["config"]), "shuffle_state": int(state["shuffle_state"])}}
    return header, state["params"]


def _classes_array(classes):
    if classes.dtype.kind in "biufU":
        return classes, classes.dtype.str
    if classes.dtype.kind == "O" and all(isinstance(c, str) for c in classes):
        return classes.astype(str), "object"
    raise ValueError(f"cannot save classes_ of dtype {classes.dtype} without pickling; use int or str labels")


def save_estimator(estimator, path):
    estimator._check_is_fitted()
    header, params = _header(estimator)
    arrays = {"params": params}
    if hasattr(estimator, "classes_"):
        arrays["classes"], header["classes_dtype"] = _classes_array(estimator.classes_)
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    _write_atomically(path, lambda f: np.savez(f, **arrays))


#: a temporary file of a save this old was left by a killed process (a save takes well under a second); younger
#: ones may belong to a save running right now in another process
STALE_TEMPORARY_SECONDS = 3600
_TOKEN_BYTES = 6  # a temporary is named .<name>.<2·_TOKEN_BYTES hex digits>.tmp


def _temporary_path(directory, name):
    return os.path.join(directory, f".{name}.{secrets.token_hex(_TOKEN_BYTES)}.tmp")


def _remove_stale_temporaries(directory, name):
    """Delete the temporaries (see _temporary_path) that a killed save left beside ``name``."""
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.tmp")
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        try:
            if pattern.fullmatch(entry.name) and now - entry.stat(follow_symlinks=False).st_mtime > \
                    STALE_TEMPORARY_SECONDS and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except OSError:  # gone meanwhile, or not ours to remove: the save goes on
            pass


def _write_atomically(path, write):
    path = os.fspath(path)
    if path.endswith(os.sep) or os.path.isdir(path):
        raise IsADirectoryError(f"cannot save to {path!r}: it is a directory; give a file name, e.g. "
                                f"{os.path.join(path, 'model.npz')!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot save to {path!r}: the directory {directory!r} does not exist")
    _remove_stale_temporaries(directory, os.path.basename(path))
    temporary = _temporary_path(directory, os.path.basename(path))
    try:
        with open(temporary, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None:  # name the file asked for, not the temporary one
            raise type(exc)(exc.errno, f"cannot save to {path!r}: {exc.strerror}") from exc
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------- loading
def _estimator_classes():
    from ._autoencoder import Autoencoder
    from ._mlp import MLPClassifier
    from ._softmax import SoftmaxRegression

    return {cls.__name__: cls for cls in (SoftmaxRegression, MLPClassifier, Autoencoder)}


def _read(path):
    """(header dict, {name: array}) of a file that at least looks like a fastmlp model."""
    with open(path, "rb") as file:  # our own handle: closed even when NumPy fails half-way
        try:
            archive = np.load(file, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with archive:
                if "header" not in archive.files:
                    raise ValueError("no fastmlp header")
                arrays = {name: archive[name] for name in archive.files}
            for name, array in arrays.items():  # a member that is no .npy file comes back as raw bytes
                if not isinstance(array, np.ndarray):
                    raise ValueError(f"member {name!r} is not a NumPy array")
            header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
        except (ValueError, OSError, EOFError, KeyError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            # NumPy takes any file that is neither .npy nor .npz for a pickle; fastmlp never unpickles
            reason = "not an .npz archive of NumPy arrays" if "allow_pickle" in str(exc) else str(exc)
            raise ValueError(f"{os.fspath(path)!r} is not a readable fastmlp model file: {reason}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a fastmlp model file (no {FORMAT!r} header)")
    return header, arrays


def load(path):
    """Load an estimator saved with ``estimator.save(path)``.

    Raises FileNotFoundError for a missing file and ValueError for a damaged, foreign or too new one.
    The loaded model predicts bit-identically to the saved one (same thread count). Hyper-parameters
    that could not be stored (``callbacks``, a random generator as ``random_state``) come back as None.
    """
    header, arrays = _read(path)
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{os.fspath(path)!r} has format version {version!r}; this fastmlp reads versions "
                         f"up to {FORMAT_VERSION} (upgrade fastmlp)")
    classes = _estimator_classes()
    if header.get("class") not in classes:
        raise ValueError(f"{os.fspath(path)!r} holds an unknown estimator class {header.get('class')!r}")
    try:
        return _restore(classes[header["class"]], header, arrays)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} is a damaged fastmlp model file: {exc!r}") from None


def _restore(cls, header, arrays):
    defaults = cls().get_params(deep=False)
    params = {}
    for name, value in header["params"].items():
        if name not in defaults:
            raise ValueError(f"unknown hyper-parameter {name!r}")
        params[name] = tuple(value) if isinstance(defaults[name], tuple) and isinstance(value, list) else value
    estimator = cls(**params)
    for name in cls._saved_attributes:
        setattr(estimator, name, header["fitted"][name])
    config = dict(header["network"]["config"])
    config["layer_sizes"] = tuple(config["layer_sizes"])
    theta = arrays["params"]
    # check the stored vector against the declared layers before building (and allocating) anything
    expected = ParameterLayout(config["layer_sizes"], bool(config["tied_weights"])).size
    if theta.dtype != np.dtype(config["dtype"]) or theta.shape != (expected,):
        raise ValueError(f"parameter array of dtype {theta.dtype} and shape {theta.shape} does not match "
                         f"the network configuration ({expected} {config['dtype']} parameters)")
    if not np.isfinite(theta).all():
        raise ValueError("the parameter array holds NaN or infinity")
    network = Network.__new__(Network)
    network.__setstate__({"config": config, "params": theta,
                          "shuffle_state": int(header["network"]["shuffle_state"])})
    if cls._estimator_type == "classifier":
        estimator.classes_ = arrays["classes"].astype(header["classes_dtype"])
        if estimator.classes_.shape != (config["layer_sizes"][-1],):
            raise ValueError(f"classes of shape {estimator.classes_.shape} stored for "
                             f"{config['layer_sizes'][-1]} outputs")
    estimator.network_ = network
    return estimator
