"""P9: the latency of ``GET /report`` through the HTTP service at 100,000 duos: the
99th percentile (ms) of sequential requests from one client, on the P5 store (the P2
store five times over, built by ``p5_report.build_store``). The baseline, for
reference, is the same report computed in this process from the views (P5's figure),
in the same run.

The service keeps a report's answer while the log stands still (ADR 37), so the
repeated requests measure the HTTP stack and the kept answer; ``miss_p50_ms`` is the
median latency of reports asked for the first time (other ``as_of`` dates), each
computed afresh.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from datetime import timedelta

import orjson
from common import DATA, env_int, result
from p5_report import AS_OF, _settled_views, build_store
from service import Connection, make_token, service


def in_process(path: str, times: int) -> list[float]:
    from projections.loading import report_from_db

    conn = sqlite3.connect(path)
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        report_from_db(conn, AS_OF)
        spent.append(time.perf_counter() - started)
    conn.close()
    return spent


async def served(host: str, port: int, token: str, times: int, misses: int
                 ) -> tuple[list[float], list[float], bytes]:
    """The latencies of ``times`` requests of the same report, of ``misses`` requests of
    reports not asked before (each computed afresh: ADR 37 keeps an answer per query),
    and the body of the first."""
    connection = Connection(host, port, token)
    path = f"/report?as_of={AS_OF.isoformat()}"
    spent, fresh, body = [], [], b""
    try:
        status, body = await connection.request("GET", path)  # warm: the views checked
        if status != 200:
            raise SystemExit(f"P9: {status} {body[:200]!r}")
        for _ in range(times):
            started = time.perf_counter()
            status, answer = await connection.request("GET", path)
            spent.append(time.perf_counter() - started)
        for back in range(1, misses + 1):
            started = time.perf_counter()
            status, answer = await connection.request(
                "GET", f"/report?as_of={(AS_OF - timedelta(days=back)).isoformat()}")
            fresh.append(time.perf_counter() - started)
            if status != 200:
                raise SystemExit(f"P9: {status} {answer[:200]!r}")
    finally:
        connection.close()
    return spent, fresh, body


def main() -> None:
    copies = env_int("BENCH_P5_COPIES", 5)
    times = env_int("BENCH_P9_REQUESTS", 100)
    _settled_views()
    path = build_store(copies)
    token = make_token(path)
    duos = sqlite3.connect(path).execute("SELECT count(*) FROM proj_duos").fetchone()[0]
    misses = env_int("BENCH_P9_MISSES", 7)
    with service(path, "p9-serve") as running:
        latencies, fresh, body = asyncio.run(served(running.host, running.port, token,
                                                    times, misses))
    baseline = in_process(path, max(7, times // 10))
    from projections.loading import report_from_db

    conn = sqlite3.connect(path)
    if orjson.loads(body) != orjson.loads(orjson.dumps(report_from_db(conn, AS_OF))):
        raise SystemExit("P9: the report served differs from the report of the views")
    conn.close()
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    median = statistics.median(baseline) * 1000
    result("P9", p99, "ms", baseline=median, ratio=None, target=150, duos=duos,
           requests=times, p50_ms=round(statistics.median(latencies) * 1000, 1),
           in_process_median_ms=round(median, 1),
           miss_p50_ms=round(statistics.median(fresh) * 1000, 1) if fresh else None,
           misses=len(fresh))
    for suffix in ("", "-wal", "-shm"):
        (DATA / f"p5.db{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
