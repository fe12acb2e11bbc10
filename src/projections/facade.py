"""The engine's read side (:class:`Views`): its projections kept in the store's own
database.

Views catch up with the event log at the end of every import and before every query,
so a report never misses a committed command (eventsourcing 9.5's SQLite recorder
cannot push notifications; on PostgreSQL ``lifecycle project --follow`` keeps them
current in the background as well).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import structlog

from lifecycle.adapters.sealing import Sealing
from lifecycle.adapters.store import StoreTarget, connect, setup_lock
from lifecycle.domain.duo import Duo
from lifecycle.domain.mentor import Mentor
from projections import coordinator
from projections import publish as publishing
from projections.catchup import ViewStatus, catch_up, status
from projections.compare import RowDifference, compare_with_rebuild
from projections.listing import DuoRow, list_duos
from projections.loading import load_read_model, load_report_rows, report_from_db
from projections.reading import EventMapper, Recorder
from projections.rebuild import rebuild
from projections.report import at_risk, build_breakdown, build_report, contact_minutes
from projections.series import build_series
from projections.writing import ensure_schema

log = structlog.get_logger(__name__)

ERASED_TOPICS = (Duo.Erased.TOPIC, Mentor.Erased.TOPIC)
PERSONAL_TABLES = ("proj_duos", "proj_mentors", "proj_reviews", "proj_surveys",
                   "proj_duo_days", "proj_duo_facts", "proj_report_packs")
"""The views whose rows hold opened personal fields (rewritten after an erasure on
PostgreSQL)."""


class Views:
    """Queries on the materialised views of one store.

    Args:
        target: the store.
        recorder: the store's application recorder (the event log the views follow).
        mapper: the store's mapper (decodes the log's events).
    """

    def __init__(self, target: StoreTarget, recorder: Recorder, mapper: EventMapper) -> None:
        self.target = target
        self.recorder = recorder
        self.mapper = mapper
        self._conn: Any = None

    @property
    def sealing(self) -> Sealing | None:
        """The store's sealing of personal fields (None: a plain store)."""
        found = getattr(self.mapper, "sealing", None)
        return found if isinstance(found, Sealing) else None

    @property
    def conn(self) -> Any:
        """The views' connection to the store's database (tables created on first use)."""
        if self._conn is None:
            self._conn = connect(self.target)
            if self.sealing is not None and not self.target.is_postgres:
                # View rows hold opened personal fields until their person is forgotten:
                # the bytes an update or a rebuild frees are overwritten (ADR 35).
                self._conn.execute("PRAGMA secure_delete = ON")
            ensure_schema(self._conn)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Apply the events the views have not seen yet; returns how many.

        A sealed store opened without its master key reads its views as they stand: it
        writes nothing (their personal fields would not open). After an erasure was
        folded in, the store's freed bytes are scrubbed (:meth:`scrub`).
        """
        sealing = self.sealing
        if sealing is not None and not sealing.writable:
            return 0
        before = self.position() if sealing is not None else 0
        # One maintainer at a time: a catch-up that has to rebuild drops and creates
        # tables, which deadlocks on PostgreSQL against another process's catch-up.
        with setup_lock(self.target):
            count = catch_up(self.recorder, self.mapper, self.conn, progress=progress)
        if count:
            log.info("views_caught_up", events=count)
            if sealing is not None and self.recorder.select_notifications(
                    before + 1, 1, topics=ERASED_TOPICS):
                self.scrub()
        return count

    def scrub(self) -> bool:
        """Remove the freed copies of view rows from the store's files: on SQLite (whose
        views connection zeroes what it frees) a full checkpoint that truncates the
        write-ahead log; on PostgreSQL ``VACUUM FULL`` of the views holding personal
        fields, which writes their files anew. Returns whether it could complete (a
        reader elsewhere can hold a SQLite checkpoint back)."""
        conn = self.conn
        if not self.target.is_postgres:
            conn.commit()
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return bool(busy == 0)
        conn.commit()
        autocommit = conn.autocommit
        conn.autocommit = True  # VACUUM cannot run inside a transaction
        try:
            for table in PERSONAL_TABLES:
                conn.execute(f"VACUUM FULL {table}")
        finally:
            conn.autocommit = autocommit
        return True

    def rebuild(self, progress: Callable[[int, int], None] | None = None, *,
                processes: int | None = None) -> int:
        """Drop and rebuild every view from the event log; returns the events folded.

        ``processes``: how many processes a large SQLite log is rebuilt with (default
        one per available CPU, at most four; 1 keeps it in this process; ADR 15).
        """
        with setup_lock(self.target):
            count = rebuild(self.recorder, self.mapper, self.conn, progress=progress,
                            processes=processes)
        log.info("views_rebuilt", events=count)
        return count

    def status(self) -> list[ViewStatus]:
        """Each view's position against the log's."""
        return status(self.recorder, self.conn)

    def position(self) -> int:
        """The log position every view has reached (0 when none has started)."""
        return min((st.position or 0 for st in self.status()), default=0)

    def wait_for(self, position: int, timeout: float = 30.0, poll: float = 0.05) -> bool:
        """Read-your-writes with background workers: wait until every view has reached
        ``position`` (e.g. ``engine.last_position``); False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True

    def differences(self) -> list[RowDifference]:
        """Rows of the stored views that differ from a rebuild in memory."""
        return compare_with_rebuild(self.recorder, self.mapper, self.conn)

    def report(self, as_of: date, programme: str | None = None,
               as_at: datetime | None = None, *, catch_up: bool = True,
               publish: bool = False, threshold: int = publishing.DEFAULT_THRESHOLD,
               tests: bool = False, minutes: bool = False) -> dict[str, Any]:
        """The report of CONTRACT §4 (UnknownProgramme for a programme never opened).

        With ``catch_up=False`` the views are read as they stand (kept current by a
        ``lifecycle project --follow`` worker; see :meth:`wait_for`). With ``tests``,
        each survey measure carries its signed-rank test. With ``minutes``, the report
        carries a ``contact_minutes`` section (as a breakdown's groups do, see
        :meth:`contact_minutes`). With ``publish``, the report (and its minutes, as one
        publication) with small-cell suppression at ``threshold`` (CONTRACT §6, see
        :func:`projections.publish.publish`; PublishError for a threshold below 3).
        """
        if publish:
            publishing.check_threshold(threshold)
        if catch_up:
            self.catch_up()
        if not (publish or minutes):
            return report_from_db(self.conn, as_of, programme, as_at=as_at, tests=tests)
        # The same rows give the report, its minutes and the at-risk counts.
        source: Any = (load_read_model(self.conn, programme) if as_at is not None
                       else load_report_rows(self.conn, as_of, programme))
        report = build_report(source, as_of, programme, as_at=as_at, tests=tests)
        if minutes:
            section = contact_minutes(source, as_of, programme, as_at=as_at)
            report["contact_minutes"] = {k: v for k, v in section.items() if k != "as_of"}
        if not publish:
            return report
        return publishing.publish(report, threshold,
                                  at_risk=at_risk(source, as_of, programme, as_at=as_at))

    def breakdown(self, as_of: date, by: str, programme: str | None = None,
                  as_at: datetime | None = None, *, publish: bool = False,
                  threshold: int = publishing.DEFAULT_THRESHOLD,
                  tests: bool = False, catch_up: bool = True) -> dict[str, Any]:
        """The report's sections per group (see
        :func:`projections.report.build_breakdown`); with ``publish``, suppressed along
        each group and across them against the unbroken report (CONTRACT §6); with
        ``tests``, each group's survey measures carry their signed-rank tests.
        ``catch_up`` as for :meth:`report`."""
        if publish:
            publishing.check_threshold(threshold)
        if catch_up:
            self.catch_up()
        if as_at is not None:
            source: Any = load_read_model(self.conn, programme)
        elif by in ("programme", "country", "month", "quarter"):
            source = load_report_rows(self.conn, as_of, programme)
        else:  # with the duos' labels and chains
            source = load_report_rows(self.conn, as_of, programme, labels=True)
        value = build_breakdown(source, as_of, by, programme,  # type: ignore[arg-type]
                                as_at=as_at, tests=tests)
        if not publish:
            return value
        # The unbroken report and the at-risk counts from the same rows.
        overall = build_report(source, as_of, programme, as_at=as_at, tests=tests)
        minutes = contact_minutes(source, as_of, programme, as_at=as_at)
        overall["contact_minutes"] = {k: v for k, v in minutes.items() if k != "as_of"}
        return publishing.publish(
            value, threshold, overall=overall,
            at_risk=at_risk(source, as_of, programme, by=by, as_at=as_at),  # type: ignore[arg-type]
            overall_at_risk=at_risk(source, as_of, programme, as_at=as_at))

    def contact_minutes(self, as_of: date, programme: str | None = None,
                        as_at: datetime | None = None, *,
                        catch_up: bool = True) -> dict[str, Any]:
        """Contact minutes per 30 active days against the 240-minute benchmark
        (``catch_up`` as for :meth:`report`)."""
        if catch_up:
            self.catch_up()
        source: Any = (load_read_model(self.conn, programme) if as_at is not None
                       else load_report_rows(self.conn, as_of, programme))
        return contact_minutes(source, as_of, programme, as_at=as_at)

    def series(self, as_of: date, programme: str | None = None,
               as_at: datetime | None = None, *, catch_up: bool = True) -> dict[str, Any]:
        """Duos by state month by month and the contact distributions behind the HTML
        report's figures (:func:`projections.series.build_series`; ``catch_up`` as for
        :meth:`report`)."""
        if catch_up:
            self.catch_up()
        source: Any = (load_read_model(self.conn, programme) if as_at is not None
                       else load_report_rows(self.conn, as_of, programme))
        return build_series(source, as_of, programme, as_at=as_at)

    def duos(self, as_of: date, *, state: str | None = None, programme: str | None = None,
             site: str | None = None, overdue: bool = False,
             as_at: datetime | None = None, catch_up: bool = True,
             reason: str | None = None) -> list[DuoRow]:
        """The per-duo view at ``as_of``, filtered; with ``reason`` (one of
        :data:`projections.coordinator.REASONS`), only the duos needing attention for it.
        """
        if catch_up:
            self.catch_up()
        model = load_read_model(self.conn, programme)
        rows = list_duos(model, as_of, state=state, programme=programme, site=site,
                         overdue=overdue, as_at=as_at)
        if reason is not None:
            wanted = {r.duo_id for r in coordinator.attention(self.conn, as_of, programme,
                                                              reason)}
            rows = [row for row in rows if row.duo_id in wanted]
        return rows

    def attention(self, as_of: date, programme: str | None = None, *,
                  reason: str | None = None,
                  catch_up: bool = True) -> list[coordinator.AttentionRow]:
        """The duos that need a coordinator at ``as_of``, with their reasons
        (CONTRACT §3 v2; UnknownProgramme for a programme never opened)."""
        if catch_up:
            self.catch_up()
        return coordinator.attention(self.conn, as_of, programme, reason)

    def mentors(self, as_of: date, programme: str | None = None, *,
                catch_up: bool = True) -> list[coordinator.PoolRow]:
        """The mentor pool at ``as_of`` (CONTRACT §3 v2)."""
        if catch_up:
            self.catch_up()
        return coordinator.mentor_pool(self.conn, as_of, programme)

    def suggest(self, duo_id: str, as_of: date, *, at_match: bool = False,
                catch_up: bool = True) -> list[coordinator.Suggestion]:
        """The mentors a selected duo can be matched with on ``as_of``, best first
        (CONTRACT §3 v2, ADR 29). ``at_match``: the ranking on the morning of the
        duo's own match, the chosen mentor marked.

        Raises:
            coordinator.UnknownDuo: no such duo.
            coordinator.NotSelected: the duo is not in ``selected`` at ``as_of``.
        """
        if catch_up:
            self.catch_up()
        return coordinator.suggest(self.conn, duo_id, as_of, at_match=at_match)

    def chains(self, programme: str | None = None, *,
               catch_up: bool = True) -> list[coordinator.ChainRow]:
        """Each mentee's chain of duos with its first recruitment and departure."""
        if catch_up:
            self.catch_up()
        return coordinator.load_chains(self.conn, programme)
