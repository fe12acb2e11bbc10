"""Worker interpreters (``lifecycle.adapters.interpreters``), the one way ``audit verify``
and ``projections rebuild`` start theirs: a real ``python -I -c`` runs ``module:function``
with its job, and its answer is the JSON it printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lifecycle.adapters import interpreters


def test_a_worker_runs_its_function_with_its_job_and_answers_in_json() -> None:
    process = interpreters.start("builtins:print", json.dumps({"lo": 1, "path": "a b#c?.db"}))
    assert process is not None
    assert interpreters.answer(process) == ({"lo": 1, "path": "a b#c?.db"}, None)


def test_a_worker_finds_the_engines_packages_though_isolated() -> None:
    process = interpreters.start("lifecycle.adapters.audit:worker_main", "not json")
    assert process is not None
    found, failure = interpreters.answer(process)
    assert found is None
    assert failure is not None and failure.startswith("exit status 1: ")
    assert "JSONDecodeError" in failure  # it got as far as reading its job


def test_a_worker_that_fails_or_prints_no_json_gives_no_answer() -> None:
    failed = interpreters.start("sys:exit", "gave up")
    assert failed is not None
    assert interpreters.answer(failed) == (None, "exit status 1: gave up")
    silent = interpreters.start("builtins:len", "[]")
    assert silent is not None
    assert interpreters.answer(silent) == (None, "no JSON answer")


def test_no_interpreter_to_start_gives_no_worker(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    assert interpreters.start("builtins:print", "{}") is None


def test_stop_kills_a_worker_not_waited_for() -> None:
    process = interpreters.start("builtins:exec", "import time; time.sleep(60)")
    assert process is not None
    interpreters.stop(process)
    assert process.returncode is not None and process.returncode < 0
    interpreters.stop(process)  # a second stop of a reaped worker does nothing
