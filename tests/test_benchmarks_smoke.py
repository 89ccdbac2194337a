"""Smoke test of the benchmark suite (benchmarks/run.py --quick): it runs, exits 0 and writes the
documented JSON; the Markdown section renders and replaces only its own block. No timing assertions:
the numbers of a smoke run on a CI machine mean nothing."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
TOP_KEYS = {"schema", "date", "command", "quick", "threads", "rounds", "machine", "contenders",
            "gemm_rate_gflops", "gemm_method", "cases", "elapsed_seconds", "warnings"}
CASE_KEYS = {"name", "kind", "description", "unit", "higher_is_better", "flops", "params", "skipped", "results"}
OK_KEYS = {"status", "value", "seconds", "round_seconds", "spread", "fraction_of_gemm", "fastmlp_speedup",
           "peak_rss_mib", "base_rss_mib", "workspace_bytes", "cpu_utilisation", "foreign_cpu", "library"}
CONTENDERS = {"fastmlp", "fastmlp_other", "numpy_ref", "torch", "sklearn"}
STATUSES = {"ok", "error", "unavailable", "n/a"}

pytestmark = pytest.mark.skipif(not RUN.is_file(), reason="benchmarks/ not in this checkout")


def benchmarks_module(name):
    """benchmarks.<name>, imported from the checkout (benchmarks/ is not part of the installed package)."""
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module(f"benchmarks.{name}")
    finally:
        sys.path.remove(str(ROOT))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--wait-fast", "1", "--json", str(out)], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return out, proc


def test_quick_run_writes_documented_json(quick_run):
    path, proc = quick_run
    data = json.loads(path.read_text())
    assert TOP_KEYS <= set(data), TOP_KEYS - set(data)
    assert data["schema"] == "fastmlp-bench/1"
    assert data["quick"] is True and data["rounds"] == 1 and data["threads"] == 2
    assert set(data["contenders"]) == CONTENDERS
    assert data["contenders"]["fastmlp"]["available"] is True
    assert data["contenders"]["fastmlp_other"]["available"] is False   # no --other-build
    names = [c["name"] for c in data["cases"]]
    assert {"gemm", "mlp_b32_h64", "mlp_b32_h64_gemms", "sae_grad", "xor_steps"} <= set(names)
    for case in data["cases"]:
        assert CASE_KEYS <= set(case), (case["name"], CASE_KEYS - set(case))
        assert set(case["results"]) == CONTENDERS
        for name, res in case["results"].items():
            assert res["status"] in STATUSES, (case["name"], name, res)
            if res["status"] == "ok":
                assert OK_KEYS <= set(res), (case["name"], name, OK_KEYS - set(res))
                assert res["seconds"] > 0 and res["peak_rss_mib"] > 0
        # fastmlp itself must have run every case of the quick suite
        assert case["results"]["fastmlp"]["status"] == "ok", case["results"]["fastmlp"]
    assert data["gemm_rate_gflops"] is not None and data["gemm_rate_gflops"] > 0
    # the BLAS-tuning variables of the environment are recorded as they are (the run never changes them)
    expected_env = {k: v for k, v in os.environ.items() if k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    assert expected_env.items() <= data["machine"]["blas_environment"].items()
    # --wait-fast: one machine-state probe before every round, the best of them at the top level
    assert data["state_probe_best_gflops"] >= data["state_probe_reference_gflops"] > 0
    for case in data["cases"]:
        probes = case["results"]["fastmlp"]["state_probes"]
        rounds = 2 if case["kind"] == "gemm" else 1  # the yardstick's builds run again after every other case
        assert len(probes) == rounds and min(probes) > 0 and max(probes) <= data["state_probe_best_gflops"]
        assert len(case["results"]["fastmlp"]["round_seconds"]) == rounds
    gemm = next(c for c in data["cases"] if c["kind"] == "gemm")["results"]
    assert len(gemm["numpy_ref"]["round_seconds"]) == 1
    # the yardstick: the fastest single GEMM of the fastmlp build's rounds, both sets of them
    assert data["gemm_rate_gflops"] == pytest.approx(
        next(c for c in data["cases"] if c["kind"] == "gemm")["flops"] / gemm["fastmlp"]["best_seconds"] / 1e9)
    mlp = next(c for c in data["cases"] if c["name"] == "mlp_b32_h64")
    assert mlp["results"]["fastmlp"]["fraction_of_gemm"] is not None
    assert mlp["results"]["fastmlp"]["fastmlp_speedup"] == pytest.approx(1.0)
    assert "mlp_b32_h64" in proc.stdout           # the printed table
    products = next(c for c in data["cases"] if c["name"] == "mlp_b32_h64_gemms")["results"]
    assert products["fastmlp"]["fraction_of_gemm"] > 0  # the ceiling of mlp_b32_h64's fraction, fastmlp builds only
    assert {name for name, res in products.items() if res["status"] == "n/a"} == {"numpy_ref", "torch", "sklearn"}


def test_markdown_rerenders_saved_run_between_markers(quick_run, tmp_path):
    path, _ = quick_run
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\nintro\n\n<!-- benchmarks:performance:start -->\nold table\n"
                      "<!-- benchmarks:performance:end -->\n\n## After\ntext\n")
    proc = subprocess.run([sys.executable, str(RUN), "--from-json", str(path), "--markdown", str(readme)],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = readme.read_text()
    assert text.startswith("# title\n\nintro\n\n<!-- benchmarks:performance:start -->\n## Performance")
    assert text.endswith("<!-- benchmarks:performance:end -->\n\n## After\ntext\n")
    assert "old table" not in text
    assert "| mlp_b32_h64 |" in text and "python benchmarks/run.py --quick" in text


def test_other_build_is_timed_beside_the_default_one(tmp_path):
    """--other-build DIR: the fastmlp package in DIR runs as a second contender in the same rounds (here the
    installed build itself, imported through the worker's PYTHONPATH), the yardstick is the faster GEMM of the
    two, and its column appears only in such a run."""
    import fastmlp
    other = Path(fastmlp.__file__).resolve().parents[1]
    out = tmp_path / "two.json"
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--cases", "sae_grad", "--contenders",
                           "fastmlp,fastmlp_other", "--other-build", str(other), "--json", str(out)],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["contenders"]["fastmlp_other"]["available"] is True
    gemm = next(c for c in data["cases"] if c["kind"] == "gemm")
    both = [gemm["results"][n] for n in ("fastmlp", "fastmlp_other")]
    assert all(r["status"] == "ok" for r in both)
    fastest = min(r.get("best_seconds") or r["seconds"] for r in both)
    assert data["gemm_rate_gflops"] == pytest.approx(gemm["flops"] / fastest / 1e9)
    sae = next(c for c in data["cases"] if c["name"] == "sae_grad")["results"]["fastmlp_other"]
    assert sae["status"] == "ok" and sae["library"]["version"] == fastmlp.__version__
    header = next(line for line in proc.stdout.splitlines() if line.startswith("case "))
    assert "other build" in header and "--other-build" in proc.stdout

    missing = subprocess.run([sys.executable, str(RUN), "--quick", "--cases", "sae_grad", "--contenders",
                              "fastmlp,fastmlp_other", "--other-build", str(tmp_path / "none"),
                              "--json", str(tmp_path / "one.json")],
                             cwd=str(ROOT), capture_output=True, text=True, timeout=600)
    assert missing.returncode == 0, missing.stderr
    assert "no fastmlp package in" in missing.stderr
    header = next(line for line in missing.stdout.splitlines() if line.startswith("case "))
    assert "fastmlp" in header and "other build" not in header   # no column for it


def test_other_build_imported_from_elsewhere_is_an_error(tmp_path):
    """An editable install's import hook can win over the worker's PYTHONPATH: the other build's result then
    says so instead of silently timing the default build twice."""
    K = benchmarks_module("contenders")
    other = tmp_path / "other"
    (other / "fastmlp").mkdir(parents=True)
    inside = {"ok": True, "library": {"path": str(other / "fastmlp")}}
    assert K.check_origin("fastmlp_other", inside, str(other)) is inside
    elsewhere = {"ok": True, "library": {"path": str(tmp_path / "site-packages" / "fastmlp")}}
    checked = K.check_origin("fastmlp_other", elsewhere, str(other))
    assert checked["ok"] is False and "not from" in checked["error"]
    assert K.check_origin("fastmlp", elsewhere, str(other)) is elsewhere   # the default build: anywhere


def test_blas_environment_is_recorded_as_set(monkeypatch):
    machine = benchmarks_module("machine")
    monkeypatch.setenv("OPENBLAS_VERBOSE", "0")
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("SOME_OTHER_VARIABLE", "1")
    recorded = machine.blas_environment()
    assert recorded["OPENBLAS_VERBOSE"] == "0" and recorded["MKL_CBWR"] == "COMPATIBLE"
    assert "ONEDNN_MAX_CPU_ISA" not in recorded and "SOME_OTHER_VARIABLE" not in recorded
    assert machine.machine_info()["blas_environment"] == recorded


def test_forced_openblas_core_on_an_avx512_machine_is_warned_about():
    machine = benchmarks_module("machine")
    forced_core_warning = machine.forced_core_warning
    avx512 = {"simd": ["avx2", "fma", "avx512f"]}
    warning = forced_core_warning({**avx512, "blas_environment": {"OPENBLAS_CORETYPE": "Haswell"}})
    assert warning is not None and "OPENBLAS_CORETYPE=Haswell" in warning and "AVX-512" in warning
    assert forced_core_warning({**avx512, "blas_environment": {"OPENBLAS_CORETYPE": "Zen"}}) is not None
    # nothing forced, a core with AVX-512 kernels, or a CPU without AVX-512: no warning
    assert forced_core_warning({**avx512, "blas_environment": {}}) is None
    assert forced_core_warning({**avx512, "blas_environment": {"OPENBLAS_CORETYPE": "SkylakeX"}}) is None
    assert forced_core_warning({"simd": ["avx2", "fma"], "blas_environment": {"OPENBLAS_CORETYPE": "Haswell"}}) is None
    forced = {**avx512, "blas_environment": {"OPENBLAS_CORETYPE": "Haswell"}}
    assert "OPENBLAS_CORETYPE=Haswell" in machine.describe_machine(forced)  # in the table's machine line
