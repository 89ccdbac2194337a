"""What machine the numbers come from: CPU model (lscpu), cores, flags, memory, OS, Python, load."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess


def _lscpu():
    if not shutil.which("lscpu"):
        return {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10,
                             env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info[key.strip()] = value.strip()
    return info


def _mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


# Variables that choose a BLAS's kernels or tune them. They are recorded, never changed: a machine that sets
# OPENBLAS_CORETYPE gets the kernels of that core from OpenBLAS (the default build's and NumPy's), whatever its CPU
# can do — on an AVX-512 machine, OPENBLAS_CORETYPE=Haswell halves the 2048³ SGEMM rate (measured 180 against 336
# GFLOP/s with it unset, 2 threads, AMD EPYC).
BLAS_ENVIRONMENT = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE", "MKL_ENABLE_INSTRUCTIONS",
                    "MKL_CBWR", "MKL_DEBUG_CPU_TYPE", "ONEDNN_MAX_CPU_ISA")


def blas_environment():
    """The BLAS-tuning variables set in this environment (name -> value)."""
    return {name: os.environ[name] for name in BLAS_ENVIRONMENT if name in os.environ}


def forced_core_warning(m):
    """A warning when OPENBLAS_CORETYPE is set on a CPU with AVX-512: the figures of OpenBLAS-backed contenders
    (fastmlp's default build, the NumPy reference, scikit-learn, and the yardstick unless another build's GEMM
    is faster) then come from narrower kernels than the CPU runs; else None."""
    core = (m.get("blas_environment") or {}).get("OPENBLAS_CORETYPE")
    if not core or "avx512f" not in (m.get("simd") or []) or core.lower() in (
            "skylakex", "cooperlake", "sapphirerapids"):  # OpenBLAS's AVX-512 cores (its Zen cores run AVX2 kernels)
        return None
    return (f"OPENBLAS_CORETYPE={core} is set (left as it is): OpenBLAS — fastmlp's default build, the NumPy "
            f"reference and scikit-learn — runs its {core} kernels, not the AVX-512 ones this "
            f"CPU could run, and its products may run at about half the rate (see benchmarks/README.md, 'Which BLAS'); "
            f"fastmlp's own kernels (gathered products: a one-hidden-layer network's SGD steps of up to 1024 rows, and "
            f"the forward and weight-gradient products of a batch in chunks) run in AVX-512 all the same, so a case "
            f"that runs on them can pass 100% of a yardstick measured through OpenBLAS")


def machine_info():
    cpu = _lscpu()
    flags = set(cpu.get("Flags", "").split())
    simd = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu_model": cpu.get("Model name") or platform.processor() or platform.machine(),
        "architecture": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "cores_per_socket": cpu.get("Core(s) per socket"),
        "threads_per_core": cpu.get("Thread(s) per core"),
        "hypervisor": cpu.get("Hypervisor vendor"),
        "l2_cache": cpu.get("L2 cache"),
        "l3_cache": cpu.get("L3 cache"),
        "simd": simd,
        "memory_gib": _mem_total_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": load,
        "blas_environment": blas_environment(),
    }


def describe_machine(m):
    """One line for the table header."""
    parts = [m.get("cpu_model") or "unknown CPU", f"{m.get('logical_cpus')} logical CPUs"]
    if m.get("hypervisor"):
        parts.append(f"{m['hypervisor']} VM")
    if m.get("simd"):
        parts.append("/".join(m["simd"]))
    if m.get("memory_gib"):
        parts.append(f"{m['memory_gib']} GiB")
    parts += [f"{k}={v}" for k, v in (m.get("blas_environment") or {}).items()]
    parts.append(m.get("platform", ""))
    parts.append(f"Python {m.get('python')}")
    return ", ".join(p for p in parts if p)


def source_info(root):
    """The checkout's commit and whether cpp/ or python/ differ from it (what fastmlp was built from,
    assuming it was installed from this checkout)."""
    def git(*args):
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--", "cpp", "python", "CMakeLists.txt"))}
