"""One writer process of ``test_concurrency.py``: applies its commands, one by one.

Usage: ``python concurrency_worker.py SPEC RESULT``. ``SPEC`` is a JSON file
``{"db": TARGET, "ready": PATH, "go": PATH, "commands": [...]}``. The worker opens the
store with the project's bootstrap (every worker at once), touches ``ready``, waits
until ``go`` exists (so that every writer starts at once), then applies each command in
its own transaction with ``Lifecycle.execute`` (which retries after concurrent writes)
and writes ``RESULT``: one entry per command, in order, ``{"command_id", "outcome"
("applied" | "duplicate" | "rejected"), "error", "rule", "field", "conflicts"}``, where
``conflicts`` counts the ``command_conflicted`` log events the command caused (each one
an ``IntegrityError`` that ``execute`` retried).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import structlog
from structlog.testing import capture_logs

from lifecycle.application.commands import parse_command
from lifecycle.bootstrap import open_engine
from lifecycle.domain.errors import DomainError

START_TIMEOUT = 300.0
"""Seconds to wait for the go signal before giving up (a guard against a hung test)."""


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {path}")
        time.sleep(0.005)


def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    # Informational events must reach capture_logs: configured here, the bootstrap
    # keeps this set-up instead of its quiet default (warnings only).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    results: list[dict[str, Any]] = []
    with open_engine(spec["db"]) as engine:
        engine.app.recorder.max_notification_id()  # connect before the start signal
        Path(spec["ready"]).touch()
        _wait_for(Path(spec["go"]))
        for raw in spec["commands"]:
            entry: dict[str, Any] = {"command_id": raw["command_id"], "error": None,
                                     "rule": None, "field": None}
            with capture_logs() as logs:
                try:
                    outcome = engine.execute(parse_command(raw), raw)
                except DomainError as exc:
                    entry.update(outcome="rejected", error=str(exc), rule=exc.rule,
                                 field=exc.field)
                else:
                    entry["outcome"] = outcome.value
            entry["conflicts"] = sum(1 for log in logs if log["event"] == "command_conflicted")
            results.append(entry)
    return results


def main() -> None:
    spec_path, result_path = sys.argv[1], sys.argv[2]
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    results = run(spec)
    Path(result_path).write_text(json.dumps(results), encoding="utf-8")


if __name__ == "__main__":
    main()
