"""How many worker interpreters a job split across CPUs may use (``audit verify``,
ADR 14; ``projections rebuild``, ADR 15). Standard library only: a worker imports it."""

from __future__ import annotations

import os
import sys
from typing import Final

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
