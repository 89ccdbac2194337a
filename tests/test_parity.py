"""fastmlp.parity: the exact parity networks, their sizes against the formulas, learning parity, the study part."""
import json
import math
import struct

import numpy as np
import pytest

import fastmlp
from fastmlp import parity as P
from fastmlp.datasets import parity as parity_data, xor as xor_data


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


def assert_exact(net, n_bits):
    X, y = parity_data(n_bits)
    out = net.forward(X.astype(net.dtype))
    np.testing.assert_array_equal(out, y.astype(net.dtype))  # the output IS ±1, not just its sign


def test_xor_network_is_the_documented_9_parameter_net():
    net = P.xor_network()
    assert isinstance(net, fastmlp.Network) and net.layer_sizes == (2, 2, 1)
    assert P.count_parameters(net) == 9 and P.depth(net) == 2
    np.testing.assert_array_equal(net.weights[0], [[1, -1], [-1, 1]])
    np.testing.assert_array_equal(net.biases[0], [-1, -1])
    np.testing.assert_array_equal(net.weights[1], [[2, 2]])
    np.testing.assert_array_equal(net.biases[1], [-1])
    X, y = xor_data()
    np.testing.assert_array_equal(net.forward(X), y)


@pytest.mark.parametrize("n_bits", range(1, 17))
@pytest.mark.parametrize("construction", [P.chain_parity_network, P.tree_parity_network])
def test_chain_and_tree_are_exact_on_all_inputs(construction, n_bits):
    assert_exact(construction(n_bits), n_bits)


def test_float32_is_exact_too():
    # every intermediate value is a small integer, so float32 loses nothing either
    for construction in (P.chain_parity_network, P.tree_parity_network, P.memorizing_parity_network):
        assert_exact(construction(10, dtype="float32"), 10)


@pytest.mark.parametrize("n_bits", range(1, 41))
def test_counts_and_depths_agree_with_the_formulas(n_bits):
    chain, tree = P.chain_parity_network(n_bits), P.tree_parity_network(n_bits)
    assert P.count_parameters(chain) == P.chain_parameter_formula(n_bits)
    assert P.count_parameters(tree) == P.tree_parameter_formula(n_bits)
    assert P.depth(chain) == n_bits
    levels = math.ceil(math.log2(n_bits))
    assert P.depth(tree) == levels + 1
    if n_bits >= 2:
        assert P.count_parameters(chain) == (n_bits ** 2 + 15 * n_bits - 16) // 2
        assert P.count_parameters(tree) <= 10 * (n_bits - 1) + 2 * levels + 3
    if n_bits & (n_bits - 1) == 0 and n_bits >= 2:
        assert P.count_parameters(tree) == 8 * n_bits - 7


def test_chain_carry_cost_is_as_documented():
    rows = P.parity_table(range(2, 30), memorizer_build_limit=4, verify_limit=4, memorizer_verify_limit=4)
    for r in rows:
        n = r["n_bits"]
        assert r["chain_carry_parameters"] == (n - 2) * (n + 1) // 2
        assert r["chain_parameters_counted"] - r["chain_carry_parameters"] == 8 * n - 7


@pytest.mark.parametrize("n_bits", range(1, 11))
def test_memorizer_is_exact_on_all_inputs(n_bits):
    net = P.memorizing_parity_network(n_bits)
    assert net.layer_sizes == (n_bits, 2 ** n_bits, 1) and P.depth(net) == 2
    assert P.count_parameters(net) == P.memorizer_parameter_formula(n_bits)
    assert_exact(net, n_bits)


def test_memorizer_on_a_subset_knows_only_what_it_stored():
    rng = np.random.default_rng(0)
    X_all, y_all = parity_data(16)
    stored = rng.choice(len(X_all), 300, replace=False)
    patterns = np.concatenate([X_all[stored], X_all[stored[:10]]])  # duplicates are stored once
    net = P.memorizing_parity_network(patterns)
    assert net.layer_sizes == (16, 300, 1)
    assert P.count_parameters(net) == P.memorizer_parameter_formula(16, 300) == 300 * 18
    np.testing.assert_array_equal(net.forward(X_all[stored]), y_all[stored])
    unseen = np.setdiff1d(np.arange(len(X_all)), stored)[:500]
    np.testing.assert_array_equal(net.forward(X_all[unseen]), 0.0)


def test_memorizer_count_at_16_bits_matches_the_formula():
    net = P.memorizing_parity_network(16)
    assert P.count_parameters(net) == 2 ** 16 * 18 == P.memorizer_parameter_formula(16)


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.ones(4), np.empty((0, 3)), [[1, -1, 2]]])
def test_memorizer_rejects_non_bipolar_patterns(bad):
    with pytest.raises(ValueError):
        P.memorizing_parity_network(bad)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "4"])
def test_bad_bit_counts_raise(bad):
    with pytest.raises(ValueError):
        P.chain_parity_network(bad)


def test_parity_table_says_what_is_counted_and_what_is_formula():
    rows = P.parity_table(range(2, 65), memorizer_build_limit=8, verify_limit=8, memorizer_verify_limit=6)
    assert [r["n_bits"] for r in rows] == list(range(2, 65))
    for r in rows:
        n = r["n_bits"]
        assert r["chain_parameters_counted"] == r["chain_parameters_formula"]
        assert r["tree_parameters_counted"] == r["tree_parameters_formula"]
        assert r["chain_depth"] == n and r["tree_depth"] == math.ceil(math.log2(n)) + 1
        assert r["slide_9n"] == 9 * n and r["memorizer_patterns"] == 2 ** n
        assert r["memorizer_parameters_formula"] == 2 ** n * (n + 2)
        assert r["memorizer_parameters_counted"] == (r["memorizer_parameters_formula"] if n <= 8 else None)
        assert r["chain_exact"] is r["tree_exact"] is (True if n <= 8 else None)
        assert r["memorizer_exact"] is (True if n <= 6 else None)
    by_n = {r["n_bits"]: r for r in rows}
    assert by_n[64]["tree_parameters_counted"] == 8 * 64 - 7 and by_n[64]["tree_depth"] == 7
    markdown = P.format_parity_table(rows)
    assert markdown.count("\n|") == len(rows) + 1 and "| 64 | 64 | 2520 |" in markdown
    json.dumps(rows)


def test_learning_xor_succeeds():
    result = P.learn_parity(2, (4,), seed=0, max_epochs=2000)
    assert result["solved"] and result["accuracy"] == 1.0 and 0 < result["epochs"] < 2000
    assert result["depth"] == 2 and result["parameters"] == 2 * 4 + 4 + 4 * 2 + 2
    squared = P.learn_parity(2, (4,), output="tanh", seed=0, max_epochs=3000)
    assert squared["solved"]


def test_learning_reports_failures_honestly():
    # with one hidden unit the decision is a threshold on w·x: a linear classifier, and parity is not separable
    result = P.learn_parity(4, (1,), seed=0, max_epochs=30)
    assert not result["solved"] and result["epochs"] == 30 and result["accuracy"] < 1.0


def test_learning_study_rows_and_table():
    rows = P.parity_learning_study((2, 3), seeds=(0, 1), max_epochs=50)
    assert len(rows) == 2 * len(P.LEARNING_ARCHITECTURES) * 2
    assert {r["architecture"] for r in rows} == set(P.LEARNING_ARCHITECTURES)
    tree_shaped = [r for r in rows if r["architecture"] == "tree-shaped" and r["n_bits"] == 3][0]
    assert tree_shaped["hidden_layer_sizes"] == [3, 2]
    table = P.format_learning_table(rows)
    assert table.count("\n|") == 2 * len(P.LEARNING_ARCHITECTURES) + 2  # header, rule, one row per (N, arch)
    json.dumps(rows)


def test_quick_parity_part_writes_its_files(tmp_path):
    pytest.importorskip("matplotlib")
    result = P.run_parity_part(tmp_path / "out", quick=True)
    names = sorted(p.split("/")[-1] for p in result["files"])
    assert names == ["parity_learning.md", "parity_parameters.png", "parity_table.md"] and not result["skipped"]
    assert png_size(tmp_path / "out" / "parity_parameters.png") == (1000, 420)  # two panels
    assert (tmp_path / "out" / "parity_parameters.png").stat().st_size > 10_000
    assert "| 64 |" in (tmp_path / "out" / "parity_table.md").read_text(encoding="utf-8")
    json.loads(json.dumps(result))


def test_sizes_whose_dense_matrices_would_not_fit_are_refused():
    with pytest.raises(ValueError, match="<= 256"):
        P.chain_parity_network(257)
    with pytest.raises(ValueError, match="<= 2048"):
        P.tree_parity_network(4096)
