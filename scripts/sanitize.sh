#!/usr/bin/env bash
# Memory-safety job: build the extension with AddressSanitizer + UndefinedBehaviorSanitizer into a separate
# virtual environment and run the core test suite (kernels, network, gradients and the API fuzz tests) under
# them. Exits non-zero on any sanitizer report, including reports from subprocesses the tests start.
#
#   scripts/sanitize.sh [extra pytest args]
#
# Environment:
#   FASTMLP_SANITIZE_DIR  work directory (venv, build tree, reports); default build/sanitize in the checkout.
#                         Kept between runs, so a re-run rebuilds incrementally.
#   PYTHON                interpreter to build the venv from; default python3.
#
# Leaks are not checked here (CPython itself leaks at exit, so LeakSanitizer would only report noise);
# tests/test_memory.py watches the resident set size instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${FASTMLP_SANITIZE_DIR:-$ROOT/build/sanitize}"
PYTHON="${PYTHON:-python3}"
CXX="${CXX:-g++}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
VENV="$WORK/venv"
REPORTS="$WORK/reports"

started=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# Everything the build and the tests need, into the job's own venv, so it runs on a fresh machine too. The
# BLAS pin is read from pyproject.toml so the two never drift apart.
blas_pin="$(grep -o 'scipy-openblas32==[0-9.]*' "$ROOT/pyproject.toml" | head -n 1)"
"$VENV/bin/python" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" "$blas_pin" numpy scipy pytest hypothesis

echo "== building fastmlp with -DFASTMLP_SANITIZE=ON in $WORK/build"
"$VENV/bin/python" -m pip install --no-build-isolation --no-deps -q "$ROOT" \
    -Ccmake.define.FASTMLP_SANITIZE=ON -Ccmake.build-type=RelWithDebInfo -Cbuild-dir="$WORK/build"

libasan="$("$CXX" -print-file-name=libasan.so)"
libubsan="$("$CXX" -print-file-name=libubsan.so)"
for lib in "$libasan" "$libubsan"; do
    if [ ! -e "$lib" ]; then
        echo "sanitize.sh: $lib not found (install the compiler's sanitizer runtime)" >&2
        exit 2
    fi
done

# The extension must really be the instrumented one (found without importing it: an ASan-built module
# cannot be imported before the ASan runtime is preloaded).
package_dir="$(cd "$WORK" && "$VENV/bin/python" -c 'import importlib.util as u, os; print(os.path.dirname(u.find_spec("fastmlp").origin))')"
core="$(ls "$package_dir"/_core*.so | head -n 1)"
if ! nm -D "$core" | grep __asan_init > /dev/null; then  # not -q: an early exit would SIGPIPE nm
    echo "sanitize.sh: $core is not built with AddressSanitizer" >&2
    exit 2
fi

rm -rf "$REPORTS"
mkdir -p "$REPORTS"
export LD_PRELOAD="$libasan:$libubsan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# A report in pytest's own process halts it (non-zero status; --capture=sys leaves the report on stderr).
# Reports in the subprocesses the tests start are filed in $REPORTS by the tests (tests/fuzz_helpers.py's
# run_child), so that one fails the job even where a test expected its child to fail. (With ASan and UBSan
# linked together, GCC's runtimes ignore log_path for UBSan reports, so the files cannot come from there.)
export FASTMLP_SANITIZER_REPORTS="$REPORTS"
export FASTMLP_SANITIZER_RUN=1
export PYTHONDONTWRITEBYTECODE=1

echo "== running the core tests under ASan + UBSan"
status=0
# Run from the work directory so that `import fastmlp` finds the venv's instrumented build.
(cd "$WORK" && "$VENV/bin/python" -m pytest -p no:cacheprovider -q --capture=sys --rootdir="$ROOT" -c "$ROOT/pyproject.toml" \
    "$ROOT/tests/test_kernels.py" "$ROOT/tests/test_network.py" "$ROOT/tests/test_gradients.py" \
    "$ROOT/tests/test_fuzz_network.py" "$ROOT/tests/test_fuzz_estimators.py" "$ROOT/tests/test_fuzz_core.py" \
    "$ROOT/tests/test_edge_cases.py" "$ROOT/tests/test_gemm_threads.py" "$ROOT/tests/test_full_batch_chunks.py" \
    "$ROOT/tests/test_native_nan_checks.py" "$ROOT/tests/test_unit_split.py" "$@") || status=$?

unset LD_PRELOAD
reports=$(find "$REPORTS" -type f | sort)
if [ -n "$reports" ]; then
    echo "== sanitizer reports:" >&2
    for f in $reports; do
        echo "---- $f" >&2
        cat "$f" >&2
    done
    [ "$status" -eq 0 ] && status=1
fi
echo "== sanitize.sh: pytest status $status, $(echo -n "$reports" | grep -c . || true) report file(s), $(( $(date +%s) - started )) s"
exit "$status"
