"""fastmlp: the native core (whole epochs in C++)."""
from __future__ import annotations

from .. import cases as C
from . import Work as BaseWork
from .network_api import network_work

NAME = "fastmlp"


def describe():
    import os

    import fastmlp
    info = fastmlp.build_info()
    core = os.stat(fastmlp._core.__file__)
    return {"version": fastmlp.__version__, "blas": info.get("blas_config", info.get("blas", "")),
            "threads": fastmlp.get_num_threads(), "openmp": info.get("openmp", ""),
            "build_type": info.get("build_type", ""), "cxx_flags": info.get("cxx_flags", ""),
            # the vector width of fastmlp's own small-batch kernels on this CPU (64 bytes: AVX-512)
            "gathered_vector_bytes": info.get("gathered_vector_bytes", ""),
            "path": os.path.dirname(os.path.abspath(fastmlp.__file__)),  # which build this process imported
            # identifies the installed native build: a reinstall during a run shows up as a change
            "core_build": f"{int(core.st_mtime)}-{core.st_size}"}


class Work(BaseWork):
    def info(self):
        native = getattr(self._net, "_net", None)
        ws = getattr(native, "workspace_bytes", None)
        return {} if ws is None else {"workspace_bytes": int(ws)}


def setup(case, threads, data_dir=None):
    import fastmlp
    fastmlp.set_num_threads(threads)
    p = case.params
    if case.kind == "gemm":
        # fastmlp has no raw GEMM entry point: a one-layer identity-output net's forward is exactly one
        # (m, k)·(k, n) GEMM plus a bias pass and the allocation of the (m, n) output.
        net = fastmlp.Network([p["k"], p["n"]], output="identity", seed=C.SEED)
        X = C.gemm_data(p["m"], p["k"])
        return Work(lambda: net.forward(X), net=net)
    work = network_work(fastmlp.Network, case, data_dir, Work)
    if work is not None:
        return work
    raise ValueError(f"fastmlp cannot run case kind {case.kind!r}")
