#!/usr/bin/env python3
"""fastmlp benchmark suite (issue 9): fastmlp vs its NumPy reference, PyTorch (CPU) and scikit-learn.

    python benchmarks/run.py                       # full suite, 3 rounds (≈ 5-10 min on 2 cores)
    python benchmarks/run.py --quick --json out.json   # smoke run (< 60 s): small cases, 1 round
    python benchmarks/run.py --json r.json --markdown README.md   # also (re)write the Performance section
    python benchmarks/run.py --from-json r.json --markdown perf.md   # re-render a saved run, no timing
    python benchmarks/run.py --cases mlp_b32_h64,xor_steps --contenders fastmlp,torch --rounds 5
    python benchmarks/run.py --other-build /tmp/mkl   # also the build in /tmp/mkl, e.g. the MKL one (README)

Method. Every (case, contender) measurement runs in a fresh worker process (benchmarks/worker.py) that
does warm-up run(s) and then k timed runs and reports their median; the driver runs the contenders of a
case one after the other, A B C D, then B C D A, … for ``--rounds`` rounds and reports the median of the
per-process medians. Drift of the machine then hits all contenders alike, and no library's idle
spinning threads slow down the next one (interleaving inside one process is unfair on 2 cores).
Threads: ``--threads`` (default 2) for everyone: fastmlp.set_num_threads, torch.set_num_threads, and
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS in every worker's environment (NumPy's BLAS,
which the NumPy reference and scikit-learn use). Nothing else in the environment is changed.

Peers are optional: a contender whose package is missing is reported as such, never an error.

The SGEMM rate is fastmlp's: a ``Network([K, N], output="identity")`` forward on an (M, K) batch is one
M×K×N GEMM through fastmlp's BLAS plus a bias pass (M = K = N = 2048; 1024 with --quick); with
``--other-build`` the faster of the two builds' GEMMs; the fastest single call of all rounds, which the fastmlp
builds run twice: first, and again after every other case (so ``gemm`` has 2 × ``--rounds`` rounds for them). Each
case's "% GEMM" is its useful FLOPs (matrix products only; see benchmarks/cases.py) per second divided by
that rate. "×r" next to a peer is fastmlp's speedup over it: the peer's median time over fastmlp's
(> 1: fastmlp is faster).

JSON (``--json PATH``), top-level keys: schema, date, command, quick, threads, rounds, machine,
contenders, gemm_rate_gflops, gemm_method, cases, elapsed_seconds, warnings. Each case: name, kind,
description, unit, higher_is_better, flops, params, skipped (null or the reason), results. Each result
(one per contender): status ("ok", "error", "unavailable", "n/a"), value (in the case's unit), seconds
(median time of one unit of work), round_seconds, spread (max−min of the rounds over their median),
best_seconds (fastest single timed run of all rounds), fraction_of_gemm, fastmlp_speedup, peak_rss_mib, base_rss_mib, workspace_bytes, cpu_utilisation,
foreign_cpu, library, state_probes (``--wait-fast``: the probe before each round), slow_state_rounds, error.
With ``--wait-fast`` also state_probe_best_gflops and state_probe_reference_gflops (the probes' 90% quantile,
against which a round counts as begun in the slow state) at the top level.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout root, for `benchmarks.*`

from benchmarks import cases as C  # noqa: E402
from benchmarks import contenders as K  # noqa: E402
from benchmarks import machine  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.machine_state import (FAST_QUANTILE, FAST_STATE, MachineState, reference_probe,  # noqa: E402
                                      thread_env, wait_until_quiet)

SCHEMA = "fastmlp-bench/1"
WORKER = Path(__file__).resolve().parent / "worker.py"
FOREIGN_CPU_WARN = 0.10
YARDSTICK_BUILDS = ("fastmlp", "fastmlp_other")  # the builds whose fastest GEMM call is the '% GEMM' yardstick


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_worker(contender, case, args):
    cmd = [sys.executable, str(WORKER), contender, case.name, "--threads", str(args.threads),
           "--data", str(args.data)]
    if args.quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=str(ROOT),
                              env=K.worker_env(contender, thread_env(args.threads), args.other_build))
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"worker timed out after {args.timeout} s"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"ok": False, "error": f"worker exited {proc.returncode} without a result: " + " | ".join(tail)}
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        return {"ok": False, "error": f"unreadable worker output ({exc})"}
    result["process_seconds"] = wall
    return K.check_origin(contender, result, args.other_build)


def _median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def aggregate(case, contender, runs):
    """Fold the rounds of one (case, contender) into one result."""
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        errors = sorted({r.get("error", "unknown error") for r in runs})
        return {"status": "error", "error": "; ".join(errors)}
    secs = [r["seconds"] for r in ok]
    med = statistics.median(secs)
    res = {
        "status": "ok",
        "seconds": med,
        "value": case.value_from_seconds(med),
        "round_seconds": secs,
        "best_seconds": min(min(r.get("times") or [r["seconds"]]) for r in ok),
        "spread": (max(secs) - min(secs)) / med if med > 0 else None,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in ok),
        "base_rss_mib": min(r["base_rss_mib"] for r in ok),
        "cpu_utilisation": _median_or_none(r.get("cpu_utilisation") for r in ok),
        "foreign_cpu": max((r["foreign_cpu"] for r in ok if r.get("foreign_cpu") is not None), default=None),
        "library": ok[-1].get("library", {}),
        "state_probes": [r.get("state_probe_gflops") for r in ok],
        "workspace_bytes": next((r["workspace_bytes"] for r in ok if "workspace_bytes" in r), None),
        "failed_rounds": len(runs) - len(ok),
    }
    builds = sorted({str(r.get("library", {}).get("core_build")) for r in ok if r.get("library", {}).get("core_build")})
    if len(builds) > 1:
        res["rebuilt_during_run"] = builds
    if "steps_per_rep" in ok[-1]:
        res["steps_per_rep"] = ok[-1]["steps_per_rep"]
    if len(ok) < len(runs):
        res["error"] = "; ".join(sorted({r.get("error", "") for r in runs if not r.get("ok")}))
    return res


def measure_rounds(case, runnable, args, state, label=""):
    """``args.rounds`` rounds of the contenders ``runnable`` on ``case``, alternating: contender -> worker results."""
    label = f" ({label})" if label else ""
    runs = {c: [] for c in runnable}
    for r in range(args.rounds):
        order = runnable[r % len(runnable):] + runnable[:r % len(runnable)]
        for contender in order:
            waited = wait_until_quiet(args.wait_quiet)
            if waited >= args.wait_quiet > 0:
                log(f"note: the machine stayed busy for {waited:.0f} s; measuring anyway")
            probe, waited = state.wait()
            if probe is not None and waited >= args.wait_fast and probe < FAST_STATE * state.reference:
                log(f"note: the machine stayed in its slow state for {waited:.0f} s (probe {probe:.0f} of "
                    f"{state.reference:.0f} GFLOP/s); measuring anyway")
            result = run_worker(contender, case, args)
            result["state_probe_gflops"] = probe
            for _ in range(args.retries):             # a disturbed process: measure it again
                if not result.get("ok") or (result.get("foreign_cpu") or 0) <= args.max_foreign:
                    break
                log(f"[{case.name}] round {r + 1}/{args.rounds}{label} {contender:9s} disturbed (foreign CPU "
                    f"{report.fmt_pct(result.get('foreign_cpu'))}), measuring again")
                wait_until_quiet(args.wait_quiet)
                again = run_worker(contender, case, args)
                if again.get("ok") and (again.get("foreign_cpu") or 0) < (result.get("foreign_cpu") or 0):
                    result = again
            runs[contender].append(result)
            if result.get("ok"):
                val = case.value_from_seconds(result["seconds"])
                log(f"[{case.name}] round {r + 1}/{args.rounds}{label} {contender:9s} {report.fmt_value(val)} "
                    f"{case.unit}  (process {result['process_seconds']:.1f} s, "
                    f"foreign CPU {report.fmt_pct(result.get('foreign_cpu'))})")
            else:
                log(f"[{case.name}] round {r + 1}/{args.rounds}{label} {contender:9s} FAILED: {result.get('error')}")
    return runs


def run_suite(args, argv):
    started = time.perf_counter()
    all_cases = C.build_cases(args.quick)
    if args.cases:
        wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
        unknown = set(wanted) - {c.name for c in all_cases}
        if unknown:
            raise SystemExit(f"unknown case(s) {sorted(unknown)}; available: {[c.name for c in all_cases]}")
        # the GEMM rate is the yardstick of every '% GEMM' column: always measure it
        all_cases = [c for c in all_cases if c.name in wanted or c.kind == "gemm"]
    chosen = K.ORDER
    if args.contenders:
        asked = [c.strip() for c in args.contenders.split(",") if c.strip()]
        unknown = set(asked) - set(K.ORDER)
        if unknown:
            raise SystemExit(f"unknown contender(s) {sorted(unknown)}; available: {list(K.ORDER)}")
        chosen = tuple(c for c in K.ORDER if c in asked)
        if "fastmlp" not in chosen:
            chosen = ("fastmlp",) + chosen
    contenders = {}
    for name in K.ORDER:
        if name not in chosen:
            contenders[name] = {"label": K.LABELS[name], "available": False, "reason": "not selected"}
            continue
        ok, reason = K.installed(name, args.other_build)
        contenders[name] = {"label": K.LABELS[name], "available": ok, "reason": reason}
        if not ok and (name != "fastmlp_other" or args.other_build):
            log(f"note: {K.LABELS[name]} skipped: {reason}")
    mach = machine.machine_info()
    mach["source"] = machine.source_info(ROOT)
    out = {
        "schema": SCHEMA,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/run.py" + ("" if not argv else " " + shlex.join(argv)),
        "quick": bool(args.quick),
        "threads": args.threads,
        "rounds": args.rounds,
        "machine": mach,
        "contenders": contenders,
        "gemm_rate_gflops": None,
        "gemm_method": None,
        "cases": [],
        "warnings": [w for w in [machine.forced_core_warning(mach)] if w],
    }
    data_dir = C.find_mnist(args.data)
    state = MachineState(args.wait_fast, args.threads)
    all_runs = {}  # case name -> contender -> its rounds' worker results
    for case in all_cases:
        entry = {"name": case.name, "kind": case.kind, "description": case.description, "unit": case.unit,
                 "higher_is_better": case.higher_is_better, "flops": case.flops, "params": case.params,
                 "skipped": None, "results": {}}
        out["cases"].append(entry)
        if case.kind == "mnist_epoch" and data_dir is None:
            entry["skipped"] = f"MNIST not found in {args.data} (pass --data DIR)"
            log(f"[{case.name}] skipped: {entry['skipped']}")
            continue
        runnable = [c for c in K.ORDER if contenders[c]["available"] and c in case.contenders]
        runs = measure_rounds(case, runnable, args, state)
        all_runs[case.name] = runs
    # The yardstick again, after every case: the machine's rate is a capacity, and a GEMM whose rounds all fell in
    # the VM's slow state would make every '% GEMM' read high (measured: 202.6 GFLOP/s in a run whose GEMM rounds
    # all began slow, against 222.7-238.9 in the runs around it). Its fastest call of both sets counts.
    gemm = next((c for c in all_cases if c.kind == "gemm"), None)
    if gemm is not None:
        builds = [c for c in YARDSTICK_BUILDS if c in all_runs[gemm.name]]
        for contender, more in measure_rounds(gemm, builds, args, state, label="again").items():
            all_runs[gemm.name][contender] += more
    for case, entry in zip(all_cases, out["cases"]):
        if case.name not in all_runs:  # skipped
            continue
        for contender in K.ORDER:
            if contender not in case.contenders:
                entry["results"][contender] = {"status": "n/a"}
            elif not contenders[contender]["available"]:
                entry["results"][contender] = {"status": "unavailable", "error": contenders[contender]["reason"]}
            else:
                entry["results"][contender] = aggregate(case, contender, all_runs[case.name][contender])
    finish(out)
    out["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    return out


def finish(out):
    """Derived numbers: the GEMM rate, each case's fraction of it, fastmlp's speedup over each peer."""
    gemm = next((c for c in out["cases"] if c["kind"] == "gemm"), None)
    rate = None
    builds = {name: r for name, r in (gemm or {"results": {}})["results"].items()
              if name in YARDSTICK_BUILDS and r.get("status") == "ok"}
    if builds:
        # the machine's rate is a capacity: take the fastest GEMM of all rounds (of either build, when two are
        # compared), not the median, so that a disturbed GEMM round does not inflate every case's '% GEMM'
        best = min(r.get("best_seconds") or r["seconds"] for r in builds.values())
        rate = gemm["flops"] / best / 1e9
        p = gemm["params"]
        which = {("fastmlp",): "", ("fastmlp_other",): " (of the other build only)"}.get(tuple(builds),
                                                                                        " (of either build)")
        out["gemm_method"] = (f"fastest of all timed fastmlp Network([{p['k']}, {p['n']}], output='identity')"
                              f".forward calls on a ({p['m']}, {p['k']}) float32 batch{which}"
                              ": one GEMM + bias pass + output allocation, nothing subtracted")
    out["gemm_rate_gflops"] = rate
    probes = [p for case in out["cases"] for res in case["results"].values() for p in res.get("state_probes") or []
              if p is not None]
    out["state_probe_best_gflops"] = max(probes, default=None)
    out["state_probe_reference_gflops"] = reference_probe(probes)
    for case in out["cases"]:
        base = case["results"].get("fastmlp", {})
        for name, res in case["results"].items():
            if res.get("status") != "ok":
                continue
            res["fraction_of_gemm"] = (case["flops"] / res["seconds"] / 1e9 / rate
                                       if rate and case["flops"] and res["seconds"] > 0 else None)
            res["fastmlp_speedup"] = (res["seconds"] / base["seconds"]
                                      if base.get("status") == "ok" and base["seconds"] > 0 else None)
        for name, res in case["results"].items():
            if res.get("rebuilt_during_run"):
                out["warnings"].append(f"{case['name']}: the native fastmlp build changed between rounds "
                                       f"(reinstalled during the run): {', '.join(res['rebuilt_during_run'])}")
        for name, res in case["results"].items():  # rounds begun in the slow state (judged against the whole run)
            slow = [p for p in res.get("state_probes") or [] if p is not None
                    and p < FAST_STATE * out["state_probe_reference_gflops"]]
            if slow:
                res["slow_state_rounds"] = len(slow)
                out["warnings"].append(f"{case['name']}: {name} began {len(slow)} of {len(res['state_probes'])} "
                                       f"rounds in the machine's slow state (probe below {FAST_STATE:.0%} of the "
                                       f"run's {FAST_QUANTILE:.0%} quantile, "
                                       f"{out['state_probe_reference_gflops']:.0f} GFLOP/s)")
        worst = max((res.get("foreign_cpu") or 0 for res in case["results"].values()), default=0)
        if worst > FOREIGN_CPU_WARN:
            out["warnings"].append(f"{case['name']}: other processes kept {worst:.0%} of the CPUs busy "
                                   f"during some timed runs; its numbers are disturbed")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--quick", action="store_true", help="smoke run: small cases, few repetitions, 1 round")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    ap.add_argument("--markdown", metavar="PATH",
                    help="write the README 'Performance' section (replaces the text between the "
                         f"markers {report.MD_START!r} and {report.MD_END!r} if PATH has them, else "
                         "writes PATH whole)")
    ap.add_argument("--from-json", metavar="PATH", help="render a saved run instead of measuring")
    ap.add_argument("--threads", type=int, default=2, help="threads for every contender (default 2)")
    ap.add_argument("--other-build", metavar="DIR",
                    help="also time the fastmlp build installed in DIR (pip install --target DIR ...) as the "
                         "contender fastmlp_other, e.g. the MKL build beside the default one")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of A B C D (default 3, --quick 1)")
    ap.add_argument("--cases", help="comma-separated case names (the GEMM yardstick always runs)")
    ap.add_argument("--contenders", help=f"comma-separated subset of {','.join(K.ORDER)} (fastmlp always)")
    ap.add_argument("--data", default=str(C.DEFAULT_DATA_DIR),
                    help="directory with the MNIST IDX .gz files (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per worker process (default 600, quick 120)")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="before each worker, wait up to SECONDS for the machine's CPUs to be < 15%% busy "
                         "(for shared machines; default 0: don't wait)")
    ap.add_argument("--wait-fast", type=float, default=0.0, metavar="SECONDS",
                    help="before each worker, probe the machine's state (benchmarks/probe.py, ~0.5 s) and wait up "
                         "to SECONDS while it is in its slow state (a probe below 85%% of the best so far); the "
                         "probes are kept in the JSON (default 0: no probe)")
    ap.add_argument("--max-foreign", type=float, default=0.10, metavar="F",
                    help="with --retries: a process during whose timed runs other processes kept more than "
                         "this share of the CPUs busy is measured again (default %(default)s)")
    ap.add_argument("--retries", type=int, default=0,
                    help="how often to re-measure a disturbed process, keeping the least disturbed "
                         "(default 0; try 2 with --wait-quiet 10 on a shared machine)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be ≥ 1")
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1:
        ap.error("--rounds must be ≥ 1")
    if args.timeout is None:
        args.timeout = 120.0 if args.quick else 600.0
    if args.list:
        cases = C.build_cases(args.quick)
        width = max(len(case.name) for case in cases)
        for case in cases:
            print(f"{case.name:{width}s} {case.unit:10s} {case.description}")
        return 0
    if args.from_json:
        out = json.loads(Path(args.from_json).read_text())
        if out.get("schema") != SCHEMA:
            raise SystemExit(f"{args.from_json}: not a {SCHEMA} file")
    else:
        out = run_suite(args, argv)
    print(report.text_report(out))
    if args.json and not args.from_json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        log(f"wrote {args.json}")
    if args.markdown:
        report.write_markdown(out, Path(args.markdown))
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
