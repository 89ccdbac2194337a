"""The study's building blocks: the verdicts written from the numbers, the parts registry, the figure
helpers and the data loading of ``fastmlp.study`` (the full run is in test_cli.py)."""
import io
import json

import numpy as np
import pytest

from fastmlp.study import MODEL_LABELS, StudyConfig, compare, load_study_data, resolve_parts
from fastmlp.study.experiments import accuracy_margin
from fastmlp.study.parts import ALL_PARTS, PartUnavailable, load_part
from fastmlp.study.progress import Reporter


def _classifier(final, best=None, best_epoch=10):
    best = final if best is None else best
    return {"final_test_accuracy": final, "best_test_accuracy": best, "best_test_epoch": best_epoch,
            "test_accuracy_at_best_validation": final, "best_validation_epoch": best_epoch,
            "final_validation_accuracy": final, "parameters": 100, "train_seconds": 1.0}


def _runs(raw, naive, sparse, backprop, **best):
    finals = dict(raw_softmax=raw, naive_ae_softmax=naive, sparse_ae_softmax=sparse, backprop=backprop)
    return {name: _classifier(value, best.get(name)) for name, value in finals.items()}


# ---------------------------------------------------------------------------- verdicts
def test_margin_is_two_binomial_standard_errors():
    assert accuracy_margin(0.92, 10_000) == pytest.approx(2 * np.sqrt(0.92 * 0.08 / 10_000))
    assert accuracy_margin(0.92, 1_000) > accuracy_margin(0.92, 10_000)
    assert accuracy_margin(1.0, 10_000) == 0.001  # floor


def test_compare_states_the_lecture_finding_only_when_measured():
    result = compare(_runs(0.92, 0.90, 0.94, 0.98), n_test=10_000)
    assert result["verdicts"]["naive_vs_raw"] == "lower"
    assert result["verdicts"]["sparse_vs_raw"] == "higher"
    assert result["verdicts"]["backprop_vs_best_softmax"] == "higher"
    assert result["verdicts"]["best_softmax_model"] == "sparse_ae_softmax"
    assert result["agrees_with_lecture"] is True
    text = " ".join(result["sentences"])
    assert "Naive-autoencoder features degraded raw-pixel softmax: 90.00% vs 92.00%" in text
    assert "Sparse-autoencoder features improved on raw-pixel softmax: 94.00% vs 92.00%" in text
    assert "backprop network reached 98.00%, above the best softmax model" in text
    assert "agrees with the lecture notes" in text

    opposite = compare(_runs(0.92, 0.93, 0.90, 0.91), n_test=10_000)
    assert opposite["verdicts"]["naive_vs_raw"] == "higher"
    assert opposite["verdicts"]["sparse_vs_raw"] == "lower"
    assert opposite["verdicts"]["backprop_vs_best_softmax"] == "lower"
    assert opposite["agrees_with_lecture"] is False
    assert "does not fully reproduce" in " ".join(opposite["sentences"])


def test_compare_flags_a_collapsed_autoencoder_instead_of_judging_its_features():
    """An autoencoder whose hidden units are constant over the test images gives chance-level features: the
    verdict 'degraded' would then be about the training run, not about autoencoder features."""
    def ae(collapsed):
        return {"activations_test": {"collapsed": collapsed, "unit_std_max": 0.0001 if collapsed else 0.2,
                                     "unit_mean_min": 0.9998, "unit_mean_max": 0.9999}}
    result = compare(_runs(0.92, 0.10, 0.94, 0.98), n_test=10_000, autoencoders={"naive": ae(True),
                                                                                 "sparse": ae(False)})
    assert result["collapsed_autoencoders"] == ["naive"]
    text = " ".join(result["sentences"])
    assert "Warning: the naive autoencoder collapsed" in text and "sparse autoencoder collapsed" not in text
    assert result["agrees_with_lecture"] is False and "cannot be judged" in text
    healthy = compare(_runs(0.92, 0.90, 0.94, 0.98), n_test=10_000, autoencoders={"naive": ae(False),
                                                                                  "sparse": ae(False)})
    assert healthy["collapsed_autoencoders"] == [] and healthy["agrees_with_lecture"] is True


def test_activation_numbers_call_a_constant_code_collapsed():
    from fastmlp.study.models import _activation_numbers

    rng = np.random.default_rng(0)
    constant = np.full((200, 8), 0.9999) + 1e-5 * rng.standard_normal((200, 8))
    assert _activation_numbers(constant, 0.1)["collapsed"] is True
    assert _activation_numbers(rng.uniform(0, 1, (200, 8)), 0.1)["collapsed"] is False


def test_compare_calls_small_differences_comparable():
    result = compare(_runs(0.900, 0.895, 0.905, 0.91), n_test=1_000)  # margin ≈ 1.9 points
    assert result["verdicts"]["naive_vs_raw"] == "comparable"
    assert result["verdicts"]["sparse_vs_raw"] == "comparable"
    assert result["verdicts"]["backprop_vs_best_softmax"] == "comparable"
    assert "neither clearly improved nor degraded" in result["sentences"][1]
    assert "±1.90 points" in result["sentences"][0]


def test_compare_mentions_a_different_best_epoch_verdict():
    result = compare(_runs(0.92, 0.90, 0.92, 0.98, sparse_ae_softmax=0.95), n_test=10_000)
    assert result["verdicts"]["sparse_vs_raw"] == "comparable"
    assert result["verdicts"]["sparse_vs_raw_best"] == "higher"
    assert any("Judged by the best epoch" in s and "sparse features" in s for s in result["sentences"])


def test_compare_rows_follow_the_plot_order():
    result = compare(_runs(0.92, 0.90, 0.94, 0.98), n_test=10_000)
    assert [r["name"] for r in result["rows"]] == list(MODEL_LABELS)
    json.dumps(result)  # plain numbers and strings


# ---------------------------------------------------------------------------- config and parts
def test_snapshot_epochs():
    assert StudyConfig(epochs=200).snapshot_epochs == [20, 200]
    assert StudyConfig(epochs=50).snapshot_epochs == [20, 50]
    assert StudyConfig(epochs=20).snapshot_epochs == [20]
    assert StudyConfig(epochs=7).snapshot_epochs == [7]
    assert StudyConfig(epochs=7).autoencoder_epochs == 7
    assert StudyConfig(epochs=7, ae_epochs=3).autoencoder_epochs == 3
    settings = StudyConfig().as_dict()
    json.dumps(settings)
    assert settings["solver"] == "momentum" and settings["hidden"] == 196


def test_parts_registry(monkeypatch):
    assert resolve_parts("all") == ALL_PARTS == ("features", "parity", "approximation")
    assert resolve_parts("parity") == ("parity",)
    with pytest.raises(ValueError, match="unknown study part"):
        resolve_parts("everything")
    from fastmlp.study import parts

    monkeypatch.setitem(parts.EXTERNAL_PARTS, "parity", ("fastmlp._no_such_module_here", "run_parity_part"))
    with pytest.raises(PartUnavailable, match=r"^part 'parity' is not available in this build$"):
        load_part("parity")
    # an existing module without the function is unavailable too
    monkeypatch.setitem(parts.EXTERNAL_PARTS, "parity", ("fastmlp.network", "run_parity_part"))
    with pytest.raises(PartUnavailable):
        load_part("parity")


def test_parts_registry_does_not_hide_real_import_errors(monkeypatch, tmp_path):
    from fastmlp.study import parts

    (tmp_path / "broken_part_module.py").write_text("import fastmlp_this_dependency_is_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(parts.EXTERNAL_PARTS, "parity", ("broken_part_module", "run"))
    with pytest.raises(ModuleNotFoundError, match="fastmlp_this_dependency_is_missing"):
        load_part("parity")


# ---------------------------------------------------------------------------- figure helpers
def test_tile_mosaic_keeps_orientation():
    from fastmlp.study.figures import tile_mosaic

    tiles = np.zeros((5, 28, 28))
    tiles[1, 0, 27] = 1.0  # top-right pixel of the second tile
    tiles[3, 27, 0] = 2.0  # bottom-left pixel of the fourth tile
    mosaic = tile_mosaic(tiles, n_cols=3, pad=1)
    assert mosaic.shape == (2 * 29 + 1, 3 * 29 + 1)
    assert mosaic[1 + 0, 1 + 29 + 27] == 1.0       # row 0, column 1
    assert mosaic[1 + 29 + 27, 1 + 0] == 2.0       # row 1, column 0
    assert np.isnan(mosaic[0, 0]) and np.isnan(mosaic[-1, -1])  # padding and the empty sixth cell


def test_normalise_symmetric_is_per_tile():
    from fastmlp.study.figures import normalise_symmetric

    W = np.array([[1.0, -4.0, 2.0], [0.01, 0.02, -0.005], [0.0, 0.0, 0.0]])
    N = normalise_symmetric(W)
    assert np.allclose(np.abs(N[:2]).max(axis=1), 1.0)
    assert np.allclose(N[0], [0.25, -1.0, 0.5]) and np.all(N[2] == 0)
    C = normalise_symmetric(W, centre=True)
    assert np.allclose(C[:2].mean(axis=1), 0.0, atol=1e-12) and np.allclose(np.abs(C[:2]).max(axis=1), 1.0)


def test_figures_draw_without_warnings(tmp_path):
    pytest.importorskip("matplotlib")
    from fastmlp.study import figures

    rng = np.random.default_rng(0)
    weights = {1: rng.normal(size=(10, 784)), 3: rng.normal(size=(10, 784))}
    path = figures.plot_softmax_weights(weights, tmp_path / "w.png", [str(d) for d in range(10)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures.plot_autoencoder_weights(rng.normal(size=(10, 784)), tmp_path / "ae.png", "ten units")
    H = rng.uniform(size=(20, 10))
    figures.plot_activations(H, np.sort(rng.integers(0, 10, 20)), H.mean(axis=0), tmp_path / "h.png", "act",
                             target=0.2)
    with pytest.raises(ValueError, match="square"):
        figures.plot_autoencoder_weights(rng.normal(size=(4, 10)), tmp_path / "bad.png", "not square")


# ---------------------------------------------------------------------------- data
def test_load_study_data_sample():
    stream = io.StringIO()
    data = load_study_data(StudyConfig(sample=True), Reporter(stream=stream))
    assert data.is_sample and data.X_train.shape == (5500, 784) and data.X_test.shape == (1000, 784)
    assert data.X_train.dtype == np.float32 and 0.0 <= data.X_train.min() and data.X_train.max() <= 1.0
    assert "shipped MNIST sample" in stream.getvalue()
    summary = data.summary()
    json.dumps(summary)
    assert summary["n_validation"] == 500


def test_load_study_data_falls_back_with_a_note_not_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    stream = io.StringIO()
    data = load_study_data(StudyConfig(download=False), Reporter(quiet=True, stream=stream))  # warnings are errors
    assert data.is_sample
    assert "SHIPPED SAMPLE" in stream.getvalue()  # notes are shown even when quiet
    assert data.notes


def test_load_study_data_sample_needs_mnist():
    with pytest.raises(ValueError, match="only MNIST has a shipped sample"):
        load_study_data(StudyConfig(sample=True, dataset="fashion-mnist"), Reporter(quiet=True))
