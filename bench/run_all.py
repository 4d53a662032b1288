"""Run every benchmark, one after another in its own process, and print a summary.

Prints the machine first (cores, memory, CPU model, Python, SQLite, Dovecot), then each
benchmark's own output as it runs, then the headline figures against their targets. Each
benchmark runs in a fresh interpreter so that none inherits another's memory or caches.

    .venv/bin/python -m bench.run_all            # full size (takes about two hours)
    .venv/bin/python -m bench.run_all --quick    # a few minutes: small mix, fewer requests
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_PREFIX = "summary: "

FULL: dict[str, list[str]] = {
    "bench.bench_ingest": [],
    "bench.bench_latency": [],
    "bench.bench_digest": [],
}
QUICK = {
    "bench.bench_ingest": ["--scale", "0.05", "--rounds", "2", "--bare-runs", "1"],
    "bench.bench_latency": ["--requests", "40"],
    "bench.bench_digest": ["--cases", "10000"],
}


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines()
                if line.startswith("model name")), "unknown")
    memory = next((line.split()[1] for line in _output(["free", "-h"]).splitlines()
                   if line.startswith("Mem:")), "unknown")
    dovecot = _output(["/usr/sbin/dovecot", "--version"]).strip() or "unknown"
    return {
        "cores (nproc)": str(os.cpu_count()),
        "memory (free -h)": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "dovecot": dovecot,
        "kernel": platform.release(),
    }


def run(module: str, args: list[str]) -> tuple[float, list[str]]:
    """Run one benchmark, echoing its output; return its wall time and output lines."""
    print(f"\n=== {module} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    if process.wait() != 0:
        print(f"!!! {module} exited with status {process.returncode}")
    return time.perf_counter() - started, lines


def headline(module: str, lines: list[str]) -> list[str]:
    """The lines worth repeating in the summary."""
    found = [json.loads(line.removeprefix(SUMMARY_PREFIX)) for line in lines
             if line.startswith(SUMMARY_PREFIX)]
    if found and "headline" in found[-1]:
        return list(found[-1]["headline"])
    if module.endswith("digest"):
        return [line for line in lines if line.rstrip().endswith(" s")]
    return lines[-3:]


def main() -> None:
    """Run the benchmarks and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", choices=["ingest", "latency", "digest"], action="append",
                        help="run only these (repeatable)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    info = machine()
    for key, value in info.items():
        print(f"{key:<18} {value}")
    results: list[tuple[str, float, list[str]]] = []
    for module, module_args in plan.items():
        if args.only and module.rsplit("_", 1)[-1] not in args.only:
            continue
        seconds, lines = run(module, module_args)
        results.append((module, seconds, headline(module, lines)))
    print("\n=== summary" + (" (quick sizes: not the published figures)" if args.quick else ""))
    for key, value in info.items():
        print(f"{key:<18} {value}")
    for module, seconds, lines in results:
        print(f"\n{module} ({seconds / 60:.1f} min)")
        for line in lines:
            print(f"  {line}")


if __name__ == "__main__":
    main()
