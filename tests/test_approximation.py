"""fastmlp.approximation: shallow sigmoid nets fitting a sinusoid, the tables, the plots and the study part."""
import json
import struct

import numpy as np
import pytest

from fastmlp import approximation as A


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


@pytest.fixture(scope="module")
def study():
    """H = 1 and H = 32 on the default sinusoid (two periods, noise 0.1), seeded."""
    return A.approximation_study((1, 32), epochs=1500, seed=0, return_fits=True)


def test_sinusoid_data_shapes_and_seeds():
    data = A.sinusoid_data(n_train=50, n_test=70, seed=3)
    assert data["X_train"].shape == data["y_train"].shape == (50, 1)
    assert data["X_test"].shape == (70, 1) and data["X_grid"].shape == (1001, 1)
    assert data["X_train"].dtype == np.float32 and 0 <= data["X_train"].min() and data["X_train"].max() < 1
    np.testing.assert_allclose(data["y_grid"][:, 0], np.sin(4 * np.pi * data["X_grid"][:, 0]), atol=1e-5)
    again = A.sinusoid_data(n_train=50, n_test=70, seed=3)
    np.testing.assert_array_equal(again["y_train"], data["y_train"])
    assert not np.array_equal(data["X_train"][:50], data["X_test"][:50])  # held-out samples are fresh


def test_error_falls_from_1_to_32_hidden_units(study):
    rows, _ = study
    one, many = rows
    assert (one["hidden_units"], many["hidden_units"]) == (1, 32)
    assert (one["parameters"], many["parameters"]) == (4, 97)
    # a single sigmoid cannot follow two periods (MSE ≈ 0.4); 32 reach the noise floor 0.01
    assert many["heldout_mse"] < 0.3 * one["heldout_mse"]
    assert many["train_mse"] < 0.3 * one["train_mse"]
    assert many["function_mse"] < 0.1 * one["function_mse"]
    assert many["heldout_mse"] < 0.05 and one["heldout_mse"] > 0.1
    json.dumps(rows)


def test_fits_are_deterministic_for_a_seed():
    data = A.sinusoid_data(n_train=40, n_test=40)
    first = A.fit_sinusoid(4, data, epochs=50, seed=1)[1]
    second = A.fit_sinusoid(4, data, epochs=50, seed=1)[1]
    for key in ("train_mse", "heldout_mse", "function_mse"):
        assert first[key] == second[key]


def test_glorot_init_and_mini_batches_run():
    data = A.sinusoid_data(n_train=64, n_test=32)
    net, row = A.fit_sinusoid(8, data, epochs=20, init="glorot", batch_size=16, dtype="float64")
    assert net.dtype == np.float64 and row["epochs"] == 20 and np.isfinite(row["train_mse"])


@pytest.mark.parametrize("kwargs", [dict(init="uniform"), dict(hidden_units=0), dict(hidden_units=True)])
def test_bad_arguments_raise(kwargs):
    data = A.sinusoid_data(n_train=8, n_test=8)
    args = dict(hidden_units=2, init="spread") | kwargs
    with pytest.raises(ValueError):
        A.fit_sinusoid(args.pop("hidden_units"), data, epochs=1, **args)


def test_table_and_plots(study, tmp_path):
    pytest.importorskip("matplotlib")
    rows, fits = study
    table = A.format_approximation_table(rows, noise=0.1)
    assert table.count("\n|") == 3 and "σ² = 0.01" in table
    fits_png = A.plot_fits(fits, tmp_path / "fits.png")
    error_png = A.plot_error_vs_hidden(rows, tmp_path / "error.png", noise=0.1)
    for path, width in ((fits_png, 840), (error_png, 640)):  # the fits keep their legend beside the plot
        assert png_size(path) == (width, 420) and path.stat().st_size > 10_000


def test_quick_approximation_part_writes_its_files(tmp_path):
    pytest.importorskip("matplotlib")
    result = A.run_approximation_part(tmp_path, quick=True)
    names = sorted(p.split("/")[-1] for p in result["files"])
    assert names == ["approximation_error_vs_hidden.png", "approximation_fits.png", "approximation_table.md"]
    assert not result["skipped"] and [r["hidden_units"] for r in result["rows"]] == [1, 4, 16]
    for name, width in zip(names[:2], (640, 840)):
        assert png_size(tmp_path / name) == (width, 420)
    json.loads(json.dumps(result))
