"""Run every benchmark (``make bench``), write bench/results.json and docs/benchmarks.md.

Each script runs in its own process (so P6 can measure a process's peak memory) and
prints ``RESULT {json}`` lines; every figure is a ratio against a baseline measured in
the same script invocation, because this machine is noisy.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DOCS = ROOT.parent / "docs" / "benchmarks.md"
SCRIPTS = ["p1_single.py", "p2_import.py", "p3_rebuild.py", "p4_verify.py", "p5_report.py",
           "p8_http.py", "p9_http_report.py",
           "p6_memory.py", "p7_postgres.py", "p11_export.py", "p10_html.py",
           "p12_coordinator.py", "p13_forget.py"]
START, END = "<!-- results:start -->", "<!-- results:end -->"


def run(script: str) -> list[dict[str, object]]:
    path = ROOT / script
    if not path.exists():
        return []
    print(f"== {script}", flush=True)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT.parent / "src")})
    rows = [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines()
            if line.startswith("RESULT ")]
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{script} failed with exit status {proc.returncode}")
    for row in rows:
        row["seconds"] = round(time.perf_counter() - started, 1)
        print(f"   {row['id']:<9} {row['value']:>12} {row['unit']:<12} baseline "
              f"{row['baseline']}  ratio {row['ratio']}  target {row['target']}", flush=True)
    return rows


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}")


def met(row: dict[str, object]) -> str:
    ratio, target = row.get("ratio"), row.get("target")
    if target is None:
        return "—"
    # An upper limit: at most the target.
    if row["id"] in ("P6", "P9", "P10") or str(row["id"]).startswith(("P12", "P13")):
        return "yes" if float(row["value"]) <= float(target) else "no"  # type: ignore[arg-type]
    if ratio is None:
        return "—"
    ok = float(ratio) >= float(target)  # type: ignore[arg-type]
    if "limit_ms" in row:  # P5: fast enough in milliseconds too
        ok = ok and float(row["value"]) <= float(row["limit_ms"])  # type: ignore[arg-type]
    return "yes" if ok else "no"


def shown(value: object) -> str:
    """A figure as the table shows it: no trailing noise digits, a dash for none."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def write_docs(rows: list[dict[str, object]], seconds: float) -> None:
    minutes, rest = divmod(round(seconds), 60)
    lines = [START, "",
             f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()} with `make bench`, "
             f"which took {minutes} min {rest} s end to end (generating the pilots included).",
             "", "| id | value | unit | baseline | ratio | target | met | details |",
             "|---|---:|---|---:|---:|---:|---|---|"]
    for row in rows:
        details = ", ".join(f"{k}={v}" for k, v in row.items()
                            if k not in {"id", "value", "unit", "baseline", "ratio", "target"})
        lines.append(f"| {row['id']} | {shown(row['value'])} | {row['unit']} | "
                     f"{shown(row['baseline'])} | {shown(row['ratio'])} | "
                     f"{shown(row['target'])} | {met(row)} | {details} |")
    lines += ["", END]
    text = DOCS.read_text() if DOCS.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    DOCS.write_text(head + "\n".join(lines) + tail)


def main() -> None:
    started = time.perf_counter()
    rows: list[dict[str, object]] = []
    for script in sys.argv[1:] or SCRIPTS:
        rows += run(script)
    seconds = time.perf_counter() - started
    print(f"all benchmarks: {seconds / 60:.1f} min", flush=True)
    (ROOT / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    if len(sys.argv) == 1:
        write_docs(rows, seconds)
    print(f"wrote {ROOT / 'results.json'}" + ("" if len(sys.argv) > 1 else f" and {DOCS}"))


if __name__ == "__main__":
    main()
