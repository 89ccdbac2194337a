"""``fastmlp sweep``: a tiny grid completes and writes its table; a crashed or failing run loses only its row."""
import csv
import json

import pytest

from fastmlp import cli
from fastmlp.study import StudyConfig
from fastmlp.study.sweep import COLUMNS, CRASH_ENV, MODEL_LABELS, _isolated

TINY = ["sweep", "--sample", "--quick", "--epochs", "1", "--hidden", "16,32", "--quiet", "--jobs", "2"]


def _read(out):
    with open(out / "sweep.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows, json.loads((out / "sweep.json").read_text(encoding="utf-8"))


def test_tiny_grid_writes_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(CRASH_ENV, raising=False)
    out = tmp_path / "sweep"
    assert cli.main([*TINY, "--out", str(out)]) == 0
    rows, document = _read(out)
    assert tuple(rows[0]) == COLUMNS
    assert [r["hidden"] for r in rows] == ["16", "32"]
    for row in rows:
        assert row["status"] == "ok"
        assert all(0.0 <= float(row[name]) <= 1.0 for name in MODEL_LABELS)
        assert float(row["seconds"]) > 0
    assert [r["status"] for r in document["runs"]] == ["ok", "ok"]
    assert document["runs"][1]["settings"]["hidden"] == 32 and document["runs"][1]["settings"]["threads"] == 1
    markdown = (out / "sweep.md").read_text(encoding="utf-8")
    assert "| run | hidden |" in markdown and "2 of 2 runs succeeded." in markdown
    assert "2 of 2 runs succeeded." in capsys.readouterr().out


def test_a_killed_run_is_reported_and_the_other_completes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(CRASH_ENV, "1")  # the worker of run 1 calls os._exit(3)
    out = tmp_path / "sweep"
    assert cli.main([*TINY, "--out", str(out)]) == 1
    rows, document = _read(out)
    assert rows[0]["status"] == "ok" and float(rows[0]["backprop"]) > 0
    assert rows[1]["status"].startswith("failed: ") and "died" in rows[1]["status"]
    assert rows[1]["backprop"] == ""
    assert document["runs"][1]["status"] == rows[1]["status"] and document["runs"][1]["backprop"] is None
    assert "1 of 2 runs failed" in capsys.readouterr().err


def test_a_raising_run_is_a_failed_row(tmp_path, monkeypatch):
    monkeypatch.delenv(CRASH_ENV, raising=False)
    config = StudyConfig(dataset="fashion-mnist", data_dir=str(tmp_path / "missing"), download=False, epochs=1)
    row = _isolated(0, config)
    assert row["status"].startswith("failed: ") and "\n" not in row["status"]
    assert all(row[name] is None for name in MODEL_LABELS)


@pytest.mark.parametrize("argv", [["sweep", "--hidden", "16,x"], ["sweep", "--sparsity-target", "0.2,1"],
                                  ["sweep", "--jobs", "0"], ["sweep", "--sample", "--dataset", "fashion-mnist"]])
def test_bad_sweep_arguments_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "error" in capsys.readouterr().err
