"""Turn a run's JSON into the printed tables and the README 'Performance' section (Markdown)."""
from __future__ import annotations

from pathlib import Path

from . import contenders as K
from .machine import describe_machine

MD_START = "<!-- benchmarks:performance:start -->"
MD_END = "<!-- benchmarks:performance:end -->"
SHORT = {"fastmlp": "fastmlp", "fastmlp_other": "other build", "numpy_ref": "NumPy ref", "torch": "PyTorch",
         "sklearn": "scikit-learn"}


def _shown(out):
    """The contenders with a column: all but the other fastmlp build when none was timed."""
    return [c for c in K.ORDER if c != "fastmlp_other" or out["contenders"].get(c, {}).get("available")]


def fmt_value(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_pct(v):
    # One decimal: the targets are whole percents (90%, 85%), and a rounded 89.8% would read as met.
    return "—" if v is None else f"{100 * v:.1f}%"


def fmt_ratio(v):
    return "—" if v is None else (f"×{v:.2f}" if v < 10 else f"×{v:.0f}")


def _cell(res):
    status = res.get("status")
    if status == "ok":
        return fmt_value(res["value"])
    if status == "unavailable":  # left out by --contenders, or its library is missing
        return "not selected" if res.get("error") == "not selected" else "not installed"
    return {"n/a": "n/a", "error": "error"}.get(status, "—")


def _peer_cell(res, with_fraction=False):
    text = _cell(res)
    if res.get("status") == "ok" and res.get("fastmlp_speedup") is not None:
        fraction = f", {fmt_pct(res['fraction_of_gemm'])}" if with_fraction and res.get("fraction_of_gemm") else ""
        text += f" ({fmt_ratio(res['fastmlp_speedup'])}{fraction})"
    return text


def summary_rows(out):
    peers = _shown(out)[1:]
    header = ["case", "unit", "fastmlp", "% GEMM"] + [SHORT[c] for c in peers]
    rows = []
    for case in out["cases"]:
        res = case["results"]
        fm = res.get("fastmlp", {})
        if case.get("skipped"):
            rows.append([case["name"], case["unit"], "skipped", "—"] + ["—"] * len(peers))
            continue
        rows.append([case["name"], case["unit"] + (" ↑" if case["higher_is_better"] else " ↓"), _cell(fm),
                     fmt_pct(fm.get("fraction_of_gemm"))]
                    + [_peer_cell(res.get(c, {}), with_fraction=c == "fastmlp_other") for c in peers])
    return header, rows


def detail_rows(out):
    header = ["case", "contender", "value", "time/unit", "best", "spread", "% GEMM", "CPU util", "foreign CPU",
              "slow-state rounds", "peak RSS MiB", "workspace KiB"]
    rows = []
    for case in out["cases"]:
        for name in _shown(out):
            res = case["results"].get(name, {})
            if res.get("status") != "ok":
                continue
            ws = res.get("workspace_bytes")
            rows.append([case["name"], SHORT[name], f"{fmt_value(res['value'])} {case['unit']}",
                         _fmt_seconds(res["seconds"]),
                         "—" if res.get("best_seconds") is None else _fmt_seconds(res["best_seconds"]),
                         fmt_pct(res.get("spread")),
                         fmt_pct(res.get("fraction_of_gemm")),
                         "—" if res.get("cpu_utilisation") is None else f"{res['cpu_utilisation']:.2f}",
                         fmt_pct(res.get("foreign_cpu")), _slow_state(res), f"{res['peak_rss_mib']:.0f}",
                         "—" if ws is None else f"{ws / 1024:,.0f}"])
    return header, rows


def _slow_state(res):
    """'k/R' rounds begun in the machine's slow state, '—' when the run had no --wait-fast probes."""
    probes = [p for p in res.get("state_probes") or [] if p is not None]
    return f"{res.get('slow_state_rounds', 0)}/{len(probes)}" if probes else "—"


def _fmt_seconds(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def _text_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _md_table(header, rows):
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(esc(h) for h in header) + " |",
           "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _libraries(out):
    """'fastmlp 0.1.0 (OpenBLAS …)', … from the first OK result of each contender."""
    seen = {}
    for case in out["cases"]:
        for name, res in case["results"].items():
            if res.get("status") == "ok" and name not in seen and res.get("library"):
                seen[name] = res["library"]
    parts = []
    for name in _shown(out):
        lib = seen.get(name)
        avail = out["contenders"].get(name, {})
        if lib:
            blas = lib.get("blas")
            label = {"numpy_ref": "NumPy", "fastmlp_other": "other build: fastmlp"}.get(name, SHORT[name])
            parts.append(f"{label} {lib.get('version', '?')}" + (f" ({blas})" if blas else ""))
        elif not avail.get("available"):
            parts.append(f"{SHORT[name]}: {avail.get('reason', 'unavailable')}")
    return parts


def _legend(out):
    rate = out.get("gemm_rate_gflops")
    lines = [
        f"Threads: {out['threads']} for every contender. Rounds: {out['rounds']} — each (case, contender) runs "
        "in its own process, contenders alternating round by round; a value is the median over rounds of "
        "each process's median over its timed repetitions (after warm-up).",
        ("SGEMM rate (the yardstick of '% GEMM'): "
         + (f"{rate:.1f} GFLOP/s, " if rate else "not measured, ")
         + (out.get("gemm_method") or "")),
        "'% GEMM' = useful FLOPs (matrix products only; see benchmarks/cases.py) per second ÷ that rate. "
        "↑ higher is better, ↓ lower is better. '(×r)' = fastmlp's speedup over that contender "
        "(its time ÷ fastmlp's; > 1 means fastmlp is faster). n/a: the contender has no such model.",
    ]
    if "fastmlp_other" in _shown(out):
        lines.append("'other build' = a second fastmlp build timed in the same run (--other-build): its cells "
                     "read value (×r, % GEMM); ×r < 1 means the other build is the faster.")
    return lines


def _source(out):
    src = out.get("machine", {}).get("source") or {}
    if not src.get("commit"):
        return "unknown"
    return f"commit {src['commit']}" + (" + uncommitted changes in cpp/ or python/" if src.get("dirty") else "")


def text_report(out):
    lines = [f"fastmlp benchmarks — {out['date']}", f"machine: {describe_machine(out['machine'])}",
             f"command: {out['command']}", f"checkout: {_source(out)}",
             "libraries: " + "; ".join(_libraries(out))]
    lines += _legend(out)
    lines.append("")
    lines.append(_text_table(*summary_rows(out)))
    lines.append("")
    lines.append(_text_table(*detail_rows(out)))
    for case in out["cases"]:
        if case.get("skipped"):
            lines.append(f"skipped {case['name']}: {case['skipped']}")
        for name, res in case["results"].items():
            if res.get("status") == "error" or res.get("failed_rounds"):
                lines.append(f"error in {case['name']} / {name}: {res.get('error')}")
    for w in out.get("warnings", []):
        lines.append(f"WARNING: {w}")
    if "elapsed_seconds" in out:
        lines.append(f"total time {out['elapsed_seconds']:.0f} s")
    return "\n".join(lines)


def markdown(out):
    cases = "\n".join(f"- `{c['name']}`: {c['description']}" for c in out["cases"])
    warnings = out.get("warnings", [])
    warn = ("\n> **Warnings:**  \n> " + "  \n> ".join(warnings) + "\n") if warnings else ""
    quick = "\n> This is a `--quick` smoke run (tiny repetitions): not a measurement.\n" if out.get("quick") else ""
    return f"""## Performance

_Generated by `{out['command']}` on {out['date']}; do not edit by hand — rerun with `--markdown` to update._
{quick}
- **Machine:** {describe_machine(out['machine'])}
- **Checkout:** {_source(out)}
- **Libraries:** {"; ".join(_libraries(out))}
{"".join(f"- {line}" + chr(10) for line in _legend(out))}
{_md_table(*summary_rows(out))}
{warn}
Cases:

{cases}

<details><summary>Details per contender (spread over rounds, CPU use, memory)</summary>

'time/unit' = median time of one epoch / gradient / GEMM / step; 'best' = the fastest single timed run of
all rounds; 'spread' = (slowest − fastest round) ÷ median; 'CPU util' = process CPU time ÷ wall time while timing (≈ busy
threads, spinning included); 'foreign CPU' = share of the machine's CPUs used by other processes meanwhile
(> 10% means disturbed numbers); 'slow-state rounds' = rounds that began with the machine in its slow state
(`--wait-fast` probes; see benchmarks/README.md); 'peak RSS' = ru_maxrss of the worker process (Python, the
library, the data and the model); 'workspace' = fastmlp's native scratch buffers.

{_md_table(*detail_rows(out))}

</details>
"""


def write_markdown(out, path: Path):
    """Write the section to ``path``; if ``path`` already holds the markers, replace only what lies
    between them (so a README keeps its other sections)."""
    section = markdown(out)
    block = f"{MD_START}\n{section}{MD_END}"
    if path.exists():
        text = path.read_text()
        if MD_START in text and MD_END in text and text.index(MD_START) < text.index(MD_END):
            head, rest = text.split(MD_START, 1)
            tail = rest.split(MD_END, 1)[1]
            path.write_text(head + block + tail)
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block + "\n")
