"""Worker interpreters for a job split across CPUs (``audit verify``, ADR 14;
``projections rebuild``, ADR 15): how many may run, and the one way to start one and
read its answer. Standard library only: a worker imports it.

A worker is ``python -I -c``: an isolated interpreter started afresh (no
``multiprocessing``, no fork of an embedding application), given on its command line
the folder holding the engine's packages, the function to run (``module:function``)
and its job (a JSON string: paths, table names, ranges; never a key). The function
prints its answer as JSON on standard output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

MAX_PROCESSES: Final = 4
"""Processes (the caller included) a split job uses at most."""


def available_processes() -> int:
    """CPUs this process may run on, at most :data:`MAX_PROCESSES`."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return min(available, MAX_PROCESSES)


def can_start_workers() -> bool:
    """Whether there is a Python interpreter to start (not a frozen application's own
    binary)."""
    return bool(sys.executable) and not getattr(sys, "frozen", False)


ROOT: Final = str(Path(__file__).resolve().parents[2])
"""The folder holding the ``lifecycle`` and ``projections`` packages."""

_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from importlib import import_module; "
         "module, _, name = sys.argv[2].partition(':'); "
         "getattr(import_module(module), name)(sys.argv[3])")


def start(main: str, job: str) -> subprocess.Popen[bytes] | None:
    """Start a worker interpreter running ``main(job)``.

    Args:
        main: the worker's function, as ``package.module:function``.
        job: its argument, a JSON string.

    Returns:
        The running process, or None when no interpreter could be started.
    """
    try:
        return subprocess.Popen([sys.executable, "-I", "-c", _BOOT, ROOT, main, job],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except OSError:
        return None


def answer(process: subprocess.Popen[bytes]) -> tuple[Any, str | None]:
    """Wait for a worker and read its answer: (the JSON it printed, None), or (None, why
    not) when it failed or printed no JSON."""
    out, err = process.communicate()
    if process.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:]
        return None, f"exit status {process.returncode}: {last[0] if last else ''}"
    try:
        return json.loads(out), None
    except ValueError:
        return None, "no JSON answer"


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a worker not waited for yet (at the first doubt, say) and reap it."""
    if process.returncode is None:
        process.kill()
        process.communicate()
