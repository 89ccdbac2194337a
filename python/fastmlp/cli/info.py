"""``fastmlp info``: version, native build, threads, optional packages, and where data is looked for."""
from __future__ import annotations

import importlib.util
import json
import os
import sys


def _optional_version(name):
    if importlib.util.find_spec(name) is None:
        return None
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - installed without metadata
        return "installed"


def _info(data_dir):
    import numpy as np

    import fastmlp
    from .. import datasets
    from ..datasets.sample import SAMPLE_SIZES, sample_resource
    from ..study.parts import ALL_PARTS, part_available

    data = {}
    for name in ("mnist", "fashion-mnist"):
        found = datasets.find_dataset(name, data_dir)
        data[name] = {"searched": [{"directory": str(loc.directory), "origin": loc.origin, "status": loc.status(),
                                    "complete": loc.complete} for loc in datasets.data_search_paths(name, data_dir)],
                      "found": None if found is None else found.description}
    return {
        "version": fastmlp.__version__, "python": sys.version.split()[0], "numpy": np.__version__,
        "build_info": fastmlp.build_info(), "threads": fastmlp.get_num_threads(),
        "optional_packages": {name: _optional_version(name) for name in ("matplotlib", "tqdm", "scipy", "mpi4py")},
        "study_parts": {part: part_available(part) for part in ALL_PARTS},
        "data_env": {datasets.DATA_ENV_VAR: os.environ.get(datasets.DATA_ENV_VAR)},
        "user_cache": str(datasets.user_cache_dir()),
        "data": data,
        "shipped_sample": {"path": str(sample_resource()), "train_images": SAMPLE_SIZES["train"],
                           "test_images": SAMPLE_SIZES["test"]},
    }


def _cmd_info(args, argv):
    info = _info(args.data_dir)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    build = info["build_info"]
    uses = {"matplotlib": "figures of `fastmlp study`", "tqdm": "progress bars", "scipy": "solver='lbfgs'",
            "mpi4py": "data-parallel training under mpiexec"}
    blas = build.get('blas_config') or build.get('blas')
    if build.get('blas') and build['blas'] not in blas:  # a system BLAS: also say which library file
        blas += f" [{build['blas']}]"
    lines = [f"fastmlp {info['version']} (Python {info['python']}, numpy {info['numpy']})",
             f"native core: {blas}",
             f"             OpenMP {build.get('openmp')}, {build.get('compiler')}, {build.get('build_type')} build, "
             f"flags '{(build.get('cxx_flags') or '').strip()}'",
             f"threads: {info['threads']} (set with --threads or fastmlp.set_num_threads)",
             "optional packages: " + ", ".join(
                 f"{name} {version or 'not installed'} ({uses[name]})"
                 for name, version in info["optional_packages"].items()),
             "study parts: " + ", ".join(f"{part}" + ("" if ok else " (not available in this build)")
                                         for part, ok in info["study_parts"].items()),
             "",
             f"data sets are looked for in this order (${next(iter(info['data_env']))} = "
             f"{next(iter(info['data_env'].values())) or 'not set'}); the first folder with all four files wins:"]
    for name, title in (("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST")):
        entry = info["data"][name]
        lines.append(f"  {title}:")
        lines += [f"    {loc['status']}" for loc in entry["searched"]]
        if entry["found"]:
            lines.append(f"    -> found: {entry['found']}")
        else:
            fallback = (", else the shipped sample" if name == "mnist" else "")
            lines.append(f"    -> not found: commands download it into {info['user_cache']}/{name}"
                         f"{fallback} (or use --data-dir)")
    sample = info["shipped_sample"]
    lines.append(f"shipped MNIST sample: {sample['path']} ({sample['train_images']:,} training / "
                 f"{sample['test_images']:,} test images)")
    print("\n".join(lines))
    return 0
