"""The ``fastmlp`` command line end to end, on the shipped MNIST sample (no network, no data files).

Most commands run in-process through ``fastmlp.cli.main`` (fast); the entry point ``python -m fastmlp``
is checked once through a subprocess.
"""
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import fastmlp  # noqa: E402
from fastmlp import cli  # noqa: E402
from fastmlp.study import RESULT_KEYS  # noqa: E402
from fastmlp.study.parts import part_available  # noqa: E402
from fastmlp.study.report import FIGURES  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from the IHDR chunk, after checking the PNG signature."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path} has no IHDR chunk first"
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """No data anywhere: an empty user cache and no FASTMLP_DATA (commands must then use --no-download)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory):
    """`fastmlp study --sample --quick` (the README quick start), run once for the module. One thread keeps
    its time steady on a busy machine (two OpenMP threads sharing one free core are much slower)."""
    out = tmp_path_factory.mktemp("study") / "fastmlp-study"
    code = cli.main(["study", "--sample", "--quick", "--quiet", "--threads", "1", "--out", str(out)])
    assert code == 0
    return out


def run(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err, *fragments):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("fastmlp"), lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


# ---------------------------------------------------------------------------- study
def test_quick_study_writes_every_file(quick_study):
    expected = set(FIGURES.values()) | {"results.json", "report.md", "comparison.csv"}
    if part_available("parity"):
        expected |= {"parity_table.md", "parity_learning.md", "parity_parameters.png"}
    if part_available("approximation"):
        expected |= {"approximation_table.md", "approximation_fits.png", "approximation_error_vs_hidden.png"}
    present = {p.name for p in quick_study.iterdir()}
    assert expected <= present, f"missing: {sorted(expected - present)}"
    results = json.loads((quick_study / "results.json").read_text(encoding="utf-8"))
    for name in results["files"]:
        assert (quick_study / name).is_file(), name


def test_quick_study_results_json(quick_study):
    results = json.loads((quick_study / "results.json").read_text(encoding="utf-8"))
    assert set(RESULT_KEYS) <= set(results)
    assert results["format"] == "fastmlp-study"
    settings = results["settings"]
    for key in ("epochs", "autoencoder_epochs", "hidden", "sparsity_weight", "sparsity_target", "batch_size",
                "seed", "quick", "dataset", "softmax_weight_snapshot_epochs"):
        assert key in settings, key
    assert settings["quick"] is True and settings["sparsity_weight"] == 0.1 and settings["sparsity_target"] == 0.2
    data = results["data"]
    assert data["is_sample"] is True and "sample" in data["source"]
    assert (data["n_train"], data["n_validation"], data["n_test"], data["n_features"]) == (5500, 500, 1000, 784)
    versions = results["versions"]
    assert versions["fastmlp"] == fastmlp.__version__ and versions["numpy"] == np.__version__
    assert "blas" in versions["build_info"] and versions["threads"] >= 1
    assert results["timings"]["total_seconds"] > 0

    features = results["features"]
    epochs = settings["epochs"]
    for name in ("raw_softmax", "naive_ae_softmax", "sparse_ae_softmax", "backprop"):
        run_ = features[name]
        columns = run_["per_epoch"]
        assert columns["epoch"] == list(range(1, epochs + 1))
        for key in ("loss", "seconds", "validation_accuracy", "test_accuracy"):
            assert len(columns[key]) == epochs, (name, key)
        assert all(0 <= a <= 1 for a in columns["test_accuracy"])
        assert run_["final_test_accuracy"] == columns["test_accuracy"][-1]
        assert run_["final_test_accuracy"] > 0.5, name  # clearly learned something, even in 10 epochs
    for kind in ("naive", "sparse"):
        ae = features[f"{kind}_autoencoder"]
        assert len(ae["per_epoch"]["test_reconstruction_error"]) == settings["autoencoder_epochs"]
        assert len(ae["activations_test"]["mean_activation_per_unit"]) == settings["hidden"]
    # the KL penalty pulls the sparse autoencoder's mean activation towards α = 0.2, below the naive one's
    assert (features["sparse_autoencoder"]["activations_test"]["mean_activation"]
            < features["naive_autoencoder"]["activations_test"]["mean_activation"])
    comparison = features["comparison"]
    assert [row["name"] for row in comparison["rows"]] == ["raw_softmax", "naive_ae_softmax", "sparse_ae_softmax",
                                                           "backprop"]
    assert set(comparison["verdicts"]) >= {"naive_vs_raw", "sparse_vs_raw", "backprop_vs_best_softmax"}
    assert comparison["verdicts"]["naive_vs_raw"] in ("higher", "lower", "comparable")
    assert comparison["sentences"] and comparison["margin"] > 0
    csv_lines = (quick_study / "comparison.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == epochs + 1 and csv_lines[0].startswith("epoch,")


def test_quick_study_pngs_open_with_sensible_sizes(quick_study):
    minimum = {"naive_ae_weights.png": (400, 400), "sparse_ae_weights.png": (400, 400),
               "softmax_weights.png": (500, 250), "comparison.png": (600, 400)}
    pngs = sorted(quick_study.glob("*.png"))
    assert len(pngs) >= len(FIGURES)
    for path in pngs:
        width, height = png_size(path)
        min_w, min_h = minimum.get(path.name, (300, 200))
        assert width >= min_w and height >= min_h, (path.name, width, height)
    import matplotlib.image

    image = matplotlib.image.imread(quick_study / "comparison.png")
    assert image.shape[:2] == png_size(quick_study / "comparison.png")[::-1]
    assert image.std() > 0  # not blank


def test_quick_study_report_links_only_existing_files(quick_study):
    text = (quick_study / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        assert not link.startswith(("/", "http")), link
        assert (quick_study / link).is_file(), f"report.md links to missing {link}"
    for figure in FIGURES.values():
        assert f"]({figure})" in text, figure
    assert "shipped MNIST sample" in text
    assert "| model | parameters | final test accuracy" in text
    assert "Conclusion" in text


# ---------------------------------------------------------------------------- bad arguments and errors
@pytest.mark.parametrize("argv", [
    ["study", "--epochs", "0"],
    ["study", "--sparsity-target", "1.5"],
    ["study", "--sparsity-weight", "-1"],
    ["study", "--part", "everything"],
    ["study", "--sample", "--dataset", "fashion-mnist"],
    ["study", "--sample", "--data-dir", "somewhere"],
    ["frobnicate"],
    [],
    ["train"],
    ["train", "--model", "softmax", "--sparsity-weight", "0.1", "--sample"],
    ["train", "--model", "autoencoder", "--hidden", "64,32", "--sample"],
    ["train", "--model", "mlp", "--hidden", "12,x"],
    ["train", "--model", "softmax", "--hidden", "64", "--sample"],
    ["train", "--model", "softmax", "--activation", "tanh", "--sample"],
    ["train", "--model", "softmax", "--seed", "-1", "--sample"],
    ["sweep", "--sample", "--seed", "1,-2"],
    ["train", "--model", "softmax", "--data-dir", "/no/such/folder", "--no-download"],
    ["study", "--data-dir", "/no/such/folder", "--quick"],
    ["evaluate"],
    ["evaluate", "m.npz", "--split", "nope"],
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert_one_line_error(err, "error:")


def test_missing_matplotlib_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run(capsys, "study", "--sample", "--quick", "--out", str(tmp_path / "s"))
    assert code == 1
    assert_one_line_error(err, "matplotlib is required for `fastmlp study`: pip install 'fastmlp[study]'")
    assert not (tmp_path / "s").exists()


def test_unavailable_part_is_one_line(capsys, tmp_path, monkeypatch):
    from fastmlp.study import parts

    monkeypatch.setitem(parts.EXTERNAL_PARTS, "parity", ("fastmlp._no_such_parity_module", "run_parity_part"))
    code, out, err = run(capsys, "study", "--part", "parity", "--quick", "--out", str(tmp_path / "s"))
    assert code == 1
    assert_one_line_error(err, "part 'parity' is not available in this build")


def test_part_all_skips_unavailable_parts(capsys, tmp_path, monkeypatch):
    from fastmlp.study import StudyConfig, parts, run_study
    from fastmlp.study.progress import Reporter

    for name in ("parity", "approximation"):
        monkeypatch.setitem(parts.EXTERNAL_PARTS, name, (f"fastmlp._no_such_{name}", "run"))
    monkeypatch.setattr(parts, "ALL_PARTS", ("parity", "approximation"))
    results = run_study(StudyConfig(quick=True), tmp_path / "s", part="all", reporter=Reporter(quiet=True))
    assert results["parts"] == []
    assert set(results["skipped_parts"]) == {"parity", "approximation"}
    assert "part 'parity' is not available in this build" in capsys.readouterr().err
    report = (tmp_path / "s" / "report.md").read_text(encoding="utf-8")
    assert "Part 'parity' skipped" in report


def test_missing_dataset_without_sample_is_one_line(capsys, isolated_data):
    code, out, err = run(capsys, "train", "--model", "softmax", "--dataset", "fashion-mnist", "--no-download",
                         "--out", str(isolated_data / "m.npz"))
    assert code == 1
    assert_one_line_error(err, "Fashion-MNIST was not found", "fastmlp info")


def test_missing_model_file_is_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "evaluate", str(tmp_path / "nothing.npz"), "--sample")
    assert code == 1
    assert_one_line_error(err, "no such model file")


def test_debug_shows_the_traceback(capsys, tmp_path):
    code, out, err = run(capsys, "evaluate", str(tmp_path / "nothing.npz"), "--sample", "--debug")
    assert code == 1
    assert "Traceback" in err


# ---------------------------------------------------------------------------- info
def test_info(capsys):
    code, out, err = run(capsys, "info")
    assert code == 0
    assert f"fastmlp {fastmlp.__version__}" in out
    assert fastmlp.build_info()["blas"] in out
    assert "threads:" in out and "MNIST:" in out and "Fashion-MNIST:" in out and "shipped MNIST sample" in out
    for package in ("matplotlib", "tqdm", "scipy", "mpi4py"):  # every optional extra
        assert package in out.split("optional packages:")[1].splitlines()[0]


def test_info_json_lists_search_paths(capsys, tmp_path):
    code, out, err = run(capsys, "info", "--json", "--data-dir", str(tmp_path))
    assert code == 0
    info = json.loads(out)
    assert info["version"] == fastmlp.__version__ and info["threads"] == fastmlp.get_num_threads()
    searched = [entry["directory"] for entry in info["data"]["mnist"]["searched"]]
    assert str(tmp_path / "mnist") == searched[0] and str(tmp_path) in searched
    assert info["study_parts"]["features"] is True


# ---------------------------------------------------------------------------- train / evaluate
def test_train_evaluate_round_trip_softmax(capsys, tmp_path):
    model = tmp_path / "softmax.npz"
    code, out, err = run(capsys, "train", "--model", "softmax", "--epochs", "3", "--sample", "--quiet",
                         "--out", str(model))
    assert code == 0, err
    assert model.is_file() and "Saved to" in out and "validation accuracy" in out
    code, out, err = run(capsys, "evaluate", str(model), "--sample", "--json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["class"] == "SoftmaxRegression" and result["split"] == "test" and result["n_images"] == 1000
    X, y = fastmlp.datasets.load_mnist("test", sample=True)
    assert result["accuracy"] == pytest.approx(fastmlp.load(model).score(X, y))
    assert result["accuracy"] > 0.8


def test_train_evaluate_round_trip_mlp_and_autoencoders(capsys, tmp_path):
    for model_name, extra in (("mlp", ["--hidden", "32,16"]), ("autoencoder", ["--hidden", "16"]),
                              ("sparse-autoencoder", ["--hidden", "16", "--sparsity-weight", "0.2"])):
        path = tmp_path / f"{model_name}.npz"
        code, out, err = run(capsys, "train", "--model", model_name, "--epochs", "1", "--sample", "--quiet",
                             "--threads", "1", "--out", str(path), *extra)
        assert code == 0, err
        code, out, err = run(capsys, "evaluate", str(path), "--sample", "--split", "validation", "--quiet")
        assert code == 0, err
        assert "500 images" in out
        assert ("accuracy" in out) == (model_name == "mlp")
        assert ("reconstruction error" in out) == (model_name != "mlp")
    loaded = fastmlp.load(tmp_path / "sparse-autoencoder.npz")
    assert loaded.sparsity_weight == 0.2 and loaded.n_hidden == 16
    assert fastmlp.load(tmp_path / "mlp.npz").hidden_layer_sizes == (32, 16)


def test_threads_option_is_restored_after_an_in_process_call(capsys, tmp_path):
    before = fastmlp.get_num_threads()
    code, out, err = run(capsys, "train", "--model", "softmax", "--epochs", "1", "--sample", "--quiet",
                         "--threads", "1", "--out", str(tmp_path / "m.npz"))
    assert code == 0, err
    assert fastmlp.get_num_threads() == before


def test_without_data_or_network_falls_back_to_the_sample_with_a_message(capsys, isolated_data):
    # pytest turns warnings into errors: the fallback must be reported as a message, not a warning
    code, out, err = run(capsys, "train", "--model", "softmax", "--epochs", "1", "--no-download",
                         "--out", str(isolated_data / "m.npz"))
    assert code == 0, err
    assert "SHIPPED SAMPLE" in err and "shipped MNIST sample" in out


# ---------------------------------------------------------------------------- the entry point
def test_python_dash_m_entry_point(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="error")
    done = subprocess.run([sys.executable, "-m", "fastmlp", "info"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"fastmlp {fastmlp.__version__}" in done.stdout
    done = subprocess.run([sys.executable, "-m", "fastmlp", "study", "--epochs", "0"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "--epochs")
