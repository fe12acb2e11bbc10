"""Shared helpers of the benchmark scripts: data generation, timing, result lines."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
sys.path.insert(0, str(ROOT.parent / "src"))

SEED = 2025

from lifecycle.adapters import logconfig  # noqa: E402  (needs the src path above)

logconfig.configure()  # quiet: warnings only


def pilot(duos: int) -> Path:
    """A simulated pilot of ``duos`` duos (generated once, kept in bench/data/)."""
    from lifecycle import simulate

    DATA.mkdir(exist_ok=True)
    path = DATA / f"pilot-{duos}-seed{SEED}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        simulate.write_jsonl(tmp, SEED, duos)
        tmp.rename(path)
    return path


def head(path: Path, lines: int) -> list[bytes]:
    """The first ``lines`` lines of a file."""
    out = []
    with path.open("rb") as handle:
        for line in handle:
            out.append(line)
            if len(out) >= lines:
                break
    return out


def fresh_db(name: str) -> Path:
    """A path for a new SQLite store in bench/data/ (old files removed)."""
    DATA.mkdir(exist_ok=True)
    path = DATA / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    """Yields a function returning the seconds elapsed so far (final once exited)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def result(id_: str, value: float, unit: str, *, baseline: float | None = None,
           ratio: float | None = None, target: float | None = None, **extra: Any) -> None:
    """Print one figure as a JSON line (collected by bench/run.py)."""
    row = {"id": id_, "value": round(value, 3), "unit": unit,
           "baseline": None if baseline is None else round(baseline, 3),
           "ratio": None if ratio is None else round(ratio, 3), "target": target, **extra}
    print("RESULT " + json.dumps(row), flush=True)


CONFIG = DATA / "config"
"""The benchmarks' own ``$XDG_CONFIG_HOME``: the master key of their sealed stores."""


def sealed_engine(db: Path | str) -> Any:
    """An engine on a sealed store at ``db`` (made sealed when new, as the CLI makes
    it: ADR 34), its master key in bench/data/config/ so that the user's own key file
    and ``$LIFECYCLE_MASTER_KEY`` are never used or touched."""
    from lifecycle.bootstrap import open_engine

    os.environ["XDG_CONFIG_HOME"] = str(CONFIG)
    os.environ.pop("LIFECYCLE_MASTER_KEY", None)
    engine = open_engine(str(db))
    if engine.sealing is None:
        raise SystemExit(f"{db}: expected a sealed store")
    return engine


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))
