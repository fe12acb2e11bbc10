"""P7: import into PostgreSQL with 1, 2 and 4 writer processes (commands/s).

The pilot's commands are split by programme (each programme's lines keep their order,
so every file is valid on its own once the programmes exist); each writer imports its
share into one shared schema. Ratios are against the single writer of the same run.
Skipped (no figure) when no PostgreSQL server answers at LIFECYCLE_BENCH_POSTGRES_URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
from common import DATA, env_int, pilot, result, timer

URL = os.environ.get("LIFECYCLE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
LIFECYCLE = str(Path(sys.executable).parent / "lifecycle")


def split(path: Path, parts: int) -> list[Path]:
    """The pilot's lines in ``parts`` files, whole programmes per file."""
    by_programme: dict[str, list[bytes]] = {}
    owner: dict[str, str] = {}
    with path.open("rb") as handle:
        for line in handle:
            raw = orjson.loads(line)
            programme = raw.get("programme_id")
            if programme is None:
                ref = raw.get("duo_id") or raw.get("mentor_id")
                programme = owner[ref]
            for key in ("duo_id", "mentor_id", "site_id"):
                if key in raw and raw["type"] in ("recruit", "register_mentor",
                                                  "register_site"):
                    owner[raw[key]] = programme
            by_programme.setdefault(programme, []).append(line)
    files = []
    names = sorted(by_programme)
    for part in range(parts):
        file = DATA / f"p7-{parts}-{part}.jsonl"
        with file.open("wb") as out:
            for name in names[part::parts]:
                out.writelines(by_programme[name])
        files.append(file)
    return files


def run(path: Path, writers: int) -> tuple[float, int]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    url = f"{URL}?schema={schema}"
    files = split(path, writers)
    total = sum(1 for f in files for _ in f.open("rb"))
    with timer() as elapsed:
        procs = [subprocess.Popen([LIFECYCLE, "--db", url, "import", str(f)],
                                  stdout=subprocess.DEVNULL) for f in files]
        codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"P7: an import with {writers} writers failed: {codes}")
    drop(schema)
    return total / elapsed(), total


def drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(URL.replace("postgresql://", "postgresql://", 1),
                         autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    try:
        import psycopg

        psycopg.connect(URL, connect_timeout=3).close()
    except Exception as exc:  # no server: say so, print no figure
        print(f"P7 skipped: no PostgreSQL at {URL} ({exc})", file=sys.stderr)
        return
    path = pilot(env_int("BENCH_P7_DUOS", 500))
    rates = {}
    for writers in (1, 2, 4):
        rates[writers], total = run(path, writers)
    for writers in (1, 2, 4):
        result(f"P7-{writers}w", rates[writers], "commands/s", baseline=rates[1],
               ratio=rates[writers] / rates[1], target=None, commands=total,
               writers=writers)


if __name__ == "__main__":
    main()
