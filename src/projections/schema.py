"""The materialised tables: their columns (documented in ``docs/projections.md``) and
the conversion of read-model records to rows and back.

Each table's column order is written once, in its definition: a column names the
record field it holds (its own name unless told), how a value is stored and loaded
when the cell differs from the field (a comma-separated text for a tuple, 0/1 for a
boolean), or that the caller computes it. The functions that make a row of a record
and a record of a row are generated from that definition (:meth:`Table.row`,
:meth:`Table.read`), as plain tuple and constructor expressions: a rebuild makes
hundreds of thousands of rows, and a loop over the columns per row would cost a
third of its time.

Types are logical (``text``, ``int``, ``blob``) so one definition serves SQLite and
PostgreSQL. Dates are ISO text (``YYYY-MM-DD``) and recording times canonical UTC text
(``YYYY-MM-DDTHH:MM:SS.ffffffZ``): both sort as they should, on both databases, and
read back unchanged. Booleans are ints 0/1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, NamedTuple

from projections.attention import SHORT
from projections.attention import spans as attention_spans
from projections.extras import PolicyDays, pack_extras
from projections.facts import (
    NEVER,
    day,
    iso_day,
    month_states,
    pack_facts,
    pack_timeline,
    timeline_states,
)
from projections.facts import duo_facts as _duo_facts
from projections.views import (
    MODULES,
    ContactView,
    CorrectionView,
    DuoView,
    MentorView,
    ProgrammeView,
    ReviewView,
    SiteView,
    SurveyView,
)

SCHEMA_VERSION: Final = 8
"""Raised whenever a table or the meaning of a column changes: views of another version
are rebuilt by the next catch-up."""

Row = tuple[Any, ...]


Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """``text``, ``int`` or ``blob``."""
    doc: str
    not_null: bool = False
    field: str | None = ""
    """The record field the column holds ("": the column's name); None when the caller
    gives the value (a key of the record's owner, or a figure computed from it)."""
    store: Convert | None = None
    """The cell of a field's value, when it is not the value itself."""
    load: Convert | None = None
    """The field's value of a cell, when it is not the cell itself."""


def _compile(name: str, parameters: Sequence[str], body: str,
             scope: dict[str, Any]) -> Callable[..., Any]:
    """A function ``name(parameters)`` returning ``body``, made once per table (as
    ``dataclasses`` makes ``__init__``): the same code as written out by hand."""
    namespace = dict(scope)
    exec(f"def {name}({', '.join(parameters)}):\n    return {body}\n", namespace)
    function: Callable[..., Any] = namespace[name]
    return function


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    clustered: bool = False
    """Stored in key order where the database can (SQLite ``WITHOUT ROWID``): for the
    table the report scans by programme."""
    record: type | None = None
    """The read-model record a row is loaded into (None: rows are never loaded)."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def key_positions(self) -> tuple[int, ...]:
        names = self.column_names
        return tuple(names.index(k) for k in self.key)

    def position(self, column: str) -> int:
        """Where ``column`` is in a row."""
        return self.column_names.index(column)

    @cached_property
    def row(self) -> Callable[..., Row]:
        """``row(record, *given)``: the row of ``record``, the columns without a field
        given after it in their order (also by their names)."""
        given: list[str] = []
        cells: list[str] = []
        scope: dict[str, Any] = {}
        for i, column in enumerate(self.columns):
            if column.field is None:
                given.append(column.name)
                cells.append(column.name)
                continue
            cell = f"r.{column.field or column.name}"
            if column.store is not None:
                scope[f"store{i}"] = column.store
                cell = f"store{i}({cell})"
            cells.append(cell)
        return _compile("row", ["r", *given], f"({', '.join(cells)},)", scope)

    @cached_property
    def read(self) -> Callable[..., Any]:
        """``read(row, **more)``: the record of a row (:attr:`record`), from the cells of
        the columns that hold one of its fields; ``more`` gives any other field."""
        if self.record is None:
            raise TypeError(f"the rows of {self.name} are never loaded into records")
        fields = {f.name for f in dataclasses.fields(self.record) if f.init}
        arguments: list[str] = []
        scope: dict[str, Any] = {"Record": self.record}
        for i, column in enumerate(self.columns):
            field = column.name if column.field == "" else column.field
            if field not in fields:
                continue  # given or computed on writing, or derived by the record itself
            cell = f"v[{i}]"
            if column.load is not None:
                scope[f"load{i}"] = column.load
                cell = f"load{i}({cell})"
            arguments.append(f"{field}={cell}")
        return _compile("read", ["v", "**more"], f"Record({', '.join(arguments)}, **more)",
                        scope)


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _join(values: Sequence[str]) -> str:
    return ",".join(values)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()


def _c(name: str, type_: str, doc: str, *, not_null: bool = False, field: str | None = "",
       store: Convert | None = None, load: Convert | None = None) -> Column:
    return Column(name, type_, doc, not_null, field, store, load)


def _given(name: str, type_: str, doc: str, *, not_null: bool = False) -> Column:
    """A column whose value the caller gives (computed, or a key of the record's owner)."""
    return Column(name, type_, doc, not_null, field=None)


def _on(name: str, what: str, *, always: bool = False) -> tuple[Column, Column]:
    unset = "" if always else " (null: not yet)"
    return (_c(f"{name}_on", "text", f"business date {what}{unset}"),
            _c(f"{name}_at", "text", f"when that was recorded{unset}"))


TRACKING = Table(
    "proj_tracking",
    "One row per view: the last event-log position (notification id) it has processed, "
    "written in the same transaction as the view's rows.",
    (
        _c("view_name", "text", "`programmes`, `sites`, `mentors` or `duos`", not_null=True),
        _c("position", "bigint", "last notification id processed (0: none); ids may have "
           "gaps, so this is a position, not a count", not_null=True),
        _c("schema_version", "int", "version of the view's table definitions; a view of "
           "another version is rebuilt", not_null=True),
    ),
    ("view_name",),
)

PROGRAMMES = Table(
    "proj_programmes",
    "One row per opened programme, with its policy.",
    (
        _c("programme_id", "text", "programme id", not_null=True),
        _c("name", "text", "programme name"),
        _c("country", "text", "ISO 3166-1 alpha-2 country"),
        *_on("opened", "the programme opened", always=True),
        _c("min_duration_days", "int", "policy: minimum relationship duration"),
        _c("max_duration_days", "int", "policy: maximum relationship duration"),
        _c("contact_interval_days", "int", "policy: longest gap between contacts before a "
           "duo is overdue"),
        _c("first_meeting_within_days", "int", "policy: days from match to first meeting"),
        _c("mentor_kinds", "text", "policy: allowed mentor kinds, comma-separated",
           store=_join, load=_split),
        _c("require_trained_mentor", "int", "policy: 1 when a mentor must be trained",
           store=int, load=bool),
        _c("reviews_first_interval", "int", "policy: reviews the first window of the "
           "monitoring schedule requires"),
        _c("review_interval_days", "int", "policy: length of each monitoring window"),
        _c("max_duos_per_mentor", "int", "policy: open duos a mentor takes before "
           "`suggest` lists the mentor after all others"),
    ),
    ("programme_id",),
    record=ProgrammeView,
)

SITES = Table(
    "proj_sites",
    "One row per registered site.",
    (
        _c("site_id", "text", "site id", not_null=True),
        _c("programme_id", "text", "its programme"),
        _c("name", "text", "site name"),
        _c("setting", "text", "`adult`, `youth` or `mixed`"),
        *_on("registered", "the site was registered", always=True),
    ),
    ("site_id",),
    record=SiteView,
)

MENTORS = Table(
    "proj_mentors",
    "One row per registered mentor, with the date each training module was first "
    "completed.",
    (
        _c("mentor_id", "text", "mentor id (a forgotten mentor's: their keyed reference, "
           "ADR 35)", not_null=True),
        _c("programme_id", "text", "programme of the mentor's pool"),
        _c("site_id", "text", "the mentor's site"),
        _c("department", "text", "the mentor's department"),
        _c("shifts", "text", "shift codes, comma-separated in the registered order",
           store=_join, load=_split),
        _c("years_experience", "int", "years of experience when registered"),
        *_on("registered", "the mentor was registered", always=True),
        *(_given(f"{m}_on", "text", f"first completion of the `{m}` module (null: not yet)")
          for m in MODULES),
        _c("trained_on", "text", "date by which all five modules had been completed at "
           "least once (null: not trained)"),
        _c("training_records", "int", "training records, refreshers included"),
        _c("version", "int", "version of the mentor's latest event"),
        *_on("deregistered", "the mentor left the pool"),
        _c("deregistration_reason", "text", "`left_service`, `withdrew` or `other` (null: "
           "in the pool)"),
        _c("mentor_key", "text", "what names the mentor's event stream: the mentor id, or "
           "in a sealed store its keyed reference (ADR 34)", not_null=True),
    ),
    ("mentor_key",),
    (("programme_id", "deregistered_on"), ("site_id",)),
    record=MentorView,
)

DUOS = Table(
    "proj_duos",
    "One row per duo: its lifecycle, partners, successor and contact summary.",
    (
        _c("duo_id", "text", "duo id", not_null=True),
        _c("programme_id", "text", "programme"),
        _c("site_id", "text", "site (the mentee's and the mentor's)"),
        _c("country", "text", "the programme's country"),
        _c("mentee_id", "text", "mentee pseudonym"),
        _c("newcomer_kind", "text", "`new_to_profession`, `transferred` or `new_setting`"),
        _c("department", "text", "the mentee's department"),
        _c("predecessor_duo_id", "text", "duo this one rematches (null: none)"),
        _c("successor_duo_id", "text", "duo that rematched this one (null: none)"),
        _c("state", "text", "latest state: recruited, selected, matched, active, closed"),
        _c("version", "int", "version of the duo's latest event"),
        *_on("recruited", "of recruitment", always=True),
        *_on("selected", "of selection"),
        _c("mentor_id", "text", "matched mentor (null: not matched)"),
        _c("mentor_kind", "text", "`peer` or `supervisor`"),
        _c("shift_overlap", "int", "1 when mentor and mentee share a shift code",
           store=_flag, load=_bool),
        _c("same_department", "int", "1 when mentor and mentee share the department",
           store=_flag, load=_bool),
        *_on("matched", "of matching"),
        *_on("activated", "of the first meeting"),
        *_on("closed", "of closure"),
        _c("close_reason", "text", "close reason (null: open)"),
        _c("closed_from", "text", "state the duo was closed from (null: open)"),
        _c("initiated_by", "text", "who initiated the closure (null: not said)"),
        _c("exit_interview", "int", "1 when an exit interview was held (null: open)",
           store=_flag, load=_bool),
        _given("contacts_logged", "int", "contacts ever logged"),
        _given("contacts_retracted", "int", "of those, retracted"),
        _given("contact_minutes", "int", "minutes of the contacts not retracted"),
        _given("last_contact_on", "text", "latest contact not retracted (null: none)"),
        _given("contacts_settled_on", "text", "latest date of any contact or retraction: "
               "for an as_of on or after it the contact summary holds as it is"),
        _given("reviews", "int", "coordinator reviews"),
        _given("last_review_on", "text", "latest review (null: none)"),
        _c("shifts", "text", "the mentee's shift codes, comma-separated in the recruited "
           "order", store=_join, load=_split),
        _c("chain_id", "text", "the first duo of the mentee's chain (linked by "
           "`predecessor_duo_id`; the duo itself when it rematches none)"),
        *_on("departed", "the mentee left the service, on the duo the departure was "
             "recorded on"),
        _c("departure_reason", "text", "`resigned`, `dismissed`, `retired` or `other`"),
        _given("corrections", "int", "corrections of the duo's lifecycle facts (the dates "
               "and close reason above are the corrected ones)"),
    ),
    ("duo_id",),
    (("programme_id",), ("chain_id",)),
    record=DuoView,
)

DUO_FACTS = Table(
    "proj_duo_facts",
    "One narrow row per duo, clustered by programme: what the report reads (the "
    "per-duo facts and contact timeline packed as integers, see below).",
    (
        _c("programme_id", "text", "programme", not_null=True),
        _c("duo_id", "text", "duo", not_null=True),
        _c("site_id", "text", "site"),
        _c("recruited_on", "text", "date of recruitment"),
        _given("contacts_settled_on", "text", "as in `proj_duos`: for an earlier as_of the "
               "report recounts the duo's contacts from its timeline"),
        _given("report_facts", "blob", "18 little-endian int32: 13 facts, then the 5 of "
               "what the report's evaluation sections need of the duo beyond them, "
               "among which how many entries `evaluation_entries` holds (see below)"),
        _given("contact_timeline", "blob", "one entry of 4 little-endian int32 per contact "
               "(see below)"),
        _given("evaluation_entries", "blob", "what the duo's reviews, met monitoring "
               "windows, exit interview and survey pairs add to the report from their "
               "days on, as little-endian int32 (see below)"),
    ),
    ("programme_id", "duo_id"),
    # Covering the report's query: it reads the packed facts without the timelines.
    (("programme_id", "recruited_on", "report_facts", "evaluation_entries"),),
    clustered=True,
)

DUO_MONTHS = Table(
    "proj_duo_months",
    "One narrow row per duo with contacts and calendar month, from its recruitment to "
    "the latest change of its contacts, clustered by programme and month: its facts and "
    "contact counts in that month, which answer a report as of a date before the duo's "
    "contacts settled (packed as integers, see below).",
    (
        _c("programme_id", "text", "programme", not_null=True),
        _given("month", "text", "calendar month `YYYY-MM`", not_null=True),
        _c("duo_id", "text", "duo", not_null=True),
        _given("contact_states", "blob", "header and states of 6 little-endian int32 each "
               "(see below)"),
    ),
    ("programme_id", "month", "duo_id"),
    clustered=True,
)

REPORT_PACKS = Table(
    "proj_report_packs",
    "One row per programme and calendar month of recruitment: the `report_facts` and "
    "the `evaluation_entries` of the programme's duos recruited in that month, each "
    "joined end to end in the order of the duos' ids, so that a report as of a later "
    "month reads them in one row instead of one row per duo. Derived from "
    "`proj_duo_facts` and written with it (see below).",
    (
        _given("programme_id", "text", "programme", not_null=True),
        _given("month", "text", "calendar month of recruitment `YYYY-MM`", not_null=True),
        _given("duos", "int", "how many duos the row joins"),
        _given("report_facts", "blob", "their `report_facts`, joined"),
        _given("evaluation_entries", "blob", "their `evaluation_entries`, joined in the "
               "same order"),
    ),
    ("programme_id", "month"),
    clustered=True,
)

DUO_DAYS = Table(
    "proj_duo_days",
    "One narrow row per duo, clustered by programme: its (corrected) lifecycle days as "
    "integers (proleptic Gregorian ordinals, 2147483647 for a step not taken), for "
    "the coordinator's queries (`attention`, `mentors`, `suggest`) to compare in SQL.",
    (
        _c("programme_id", "text", "programme", not_null=True),
        _c("duo_id", "text", "duo", not_null=True),
        _c("site_id", "text", "site"),
        _c("mentor_id", "text", "matched mentor (null: not matched)"),
        _c("mentor_kind", "text", "`peer` or `supervisor` (null: not matched)"),
        _c("chain_id", "text", "as in `proj_duos`"),
        _given("recruited", "int", "day of recruitment"),
        _given("selected", "int", "day of selection"),
        _given("matched", "int", "day of matching"),
        _given("activated", "int", "day of the first meeting"),
        _given("closed", "int", "day of closure"),
        _given("last_contact", "int", "day of the latest contact not retracted (0: none)"),
        _given("settled", "int", "latest day of any contact or retraction (0: none): for a "
               "later date `last_contact` holds as it is"),
    ),
    ("programme_id", "duo_id"),
    # What the coordinator's joins read by mentor and by chain, without the rows.
    (("mentor_id", "closed", "matched"), ("chain_id", "closed", "recruited")),
    clustered=True,
)

ATTENTION_SPANS = Table(
    "proj_attention_spans",
    "One row per span of days on which a duo needs a coordinator for a reason of its "
    "own (`first_meeting_overdue`, `contact_overdue`, `review_overdue`, "
    "`beyond_max_duration`; see `projections.attention`), worked out from its corrected "
    "dates, contacts, reviews and its programme's policy; clustered by programme and "
    "start, with what `attention` lists of the duo, so that a date's spans are one range "
    "of rows.",
    (
        _c("programme_id", "text", "programme", not_null=True),
        _c("long", "int", "1 when the span lasts more than 64 days: a shorter one holding "
           "at a date began less than 64 days before it", not_null=True),
        _c("start_day", "int", "first day it holds (a day number, as in `proj_duo_days`)",
           not_null=True),
        _c("duo_id", "text", "duo", not_null=True),
        _c("reason", "text", "the reason", not_null=True),
        _c("end_day", "int", "the day after the last (2147483647: still holding when the "
           "log ends)"),
        _c("site_id", "text", "the duo's site"),
        _c("selected", "int", "the duo's selection day (as in `proj_duo_days`)"),
        _c("matched", "int", "its matching day"),
        _c("activated", "int", "its activation day"),
    ),
    ("programme_id", "long", "start_day", "duo_id", "reason"),
    (("programme_id", "duo_id"),),
    clustered=True,
)

CONTACTS = Table(
    "proj_contacts",
    "One row per logged contact, retracted ones included.",
    (
        _given("duo_id", "text", "duo", not_null=True),
        _c("contact_id", "text", "contact id (unique within the duo)", not_null=True),
        _c("logged_version", "int", "version of the duo's ContactLogged event",
           field="version"),
        _c("occurred_on", "text", "date of the contact"),
        _c("recorded_at", "text", "when it was logged"),
        _c("minutes", "int", "minutes (1-1440)"),
        _c("mode", "text", "`in_person`, `phone`, `video`, `message` or `on_shift`"),
        _c("psychosocial", "int", "1 when the contact served the psychosocial function",
           store=int, load=bool),
        _c("career", "int", "1 when it served the career function", store=int, load=bool),
        _c("retracted_on", "text", "business date of its retraction (null: not retracted)"),
        _c("retracted_at", "text", "when the retraction was recorded"),
        _c("retract_reason", "text", "`duplicate`, `wrong_duo` or `did_not_happen`"),
    ),
    ("duo_id", "contact_id"),
    record=ContactView,
)

REVIEWS = Table(
    "proj_reviews",
    "One row per coordinator review.",
    (
        _given("duo_id", "text", "duo", not_null=True),
        _c("version", "int", "version of the duo's Reviewed event", not_null=True),
        _c("occurred_on", "text", "date of the review"),
        _c("recorded_at", "text", "when it was recorded"),
        _c("health", "int", "the relationship's health, 1-5"),
        _given("day", "int", "`occurred_on` as a day number (as in `proj_duo_days`)"),
    ),
    ("duo_id", "version"),
    clustered=True,
    record=ReviewView,
)

CORRECTIONS = Table(
    "proj_corrections",
    "One row per correction of a duo's lifecycle fact, with the value it replaced "
    "(what `as_at` before it shows).",
    (
        _given("duo_id", "text", "duo", not_null=True),
        _c("version", "int", "version of the duo's Corrected event", not_null=True),
        _c("fact", "text", "`recruited_on`, `selected_on`, `matched_on`, `activated_on`, "
           "`closed_on` or `close_reason`"),
        _c("value", "text", "the corrected value"),
        _c("previous", "text", "the value it replaced"),
        _c("occurred_on", "text", "date of the correction"),
        _c("recorded_at", "text", "when it was recorded"),
    ),
    ("duo_id", "version"),
    record=CorrectionView,
)

DEPARTURES = Table(
    "proj_departures",
    "One row per mentee chain with a departure from the service (at most one each, "
    "rule 17); the chain's first recruitment is the `recruited_on` of its first duo "
    "(`proj_duos` row with `duo_id` = `chain_id`).",
    (
        _c("chain_id", "text", "the first duo of the chain", not_null=True),
        _c("duo_id", "text", "the duo the departure was recorded on"),
        _c("programme_id", "text", "programme of that duo"),
        *_on("departed", "the mentee left the service", always=True),
        _c("reason", "text", "`resigned`, `dismissed`, `retired` or `other`",
           field="departure_reason"),
        _given("single", "int", "1 when the chain is that one duo (its attention span "
               "covers it; `attention` joins only the other chains' duos)"),
    ),
    ("chain_id",),
    # Covering attention's departures and the report's (joined to the chain's first duo).
    (("programme_id", "single", "departed_on", "reason", "chain_id"),),
)

SURVEYS = Table(
    "proj_surveys",
    "One row per survey answer set (at most one per duo, respondent and phase).",
    (
        _given("duo_id", "text", "duo", not_null=True),
        _c("respondent", "text", "`mentee` or `mentor`", not_null=True),
        _c("phase", "text", "`pre` or `post`", not_null=True),
        _c("occurred_on", "text", "date of the answers"),
        _c("recorded_at", "text", "when they were recorded"),
        _c("wellbeing", "int", "score 1-5"),
        _c("stress", "int", "score 1-5"),
        _c("integration", "int", "score 1-5"),
        _c("confidence", "int", "score 1-5"),
    ),
    ("duo_id", "respondent", "phase"),
    record=SurveyView,
)

VIEWS: Final[dict[str, tuple[Table, ...]]] = {
    "programmes": (PROGRAMMES,),
    "sites": (SITES,),
    "mentors": (MENTORS,),
    "duos": (DUOS, DUO_FACTS, DUO_MONTHS, DUO_DAYS, ATTENTION_SPANS, CONTACTS, REVIEWS,
             SURVEYS, CORRECTIONS, DEPARTURES, REPORT_PACKS),
}
"""Each view (a tracking row) and the tables it writes."""

VIEW_TABLES: Final[tuple[Table, ...]] = tuple(t for ts in VIEWS.values() for t in ts)
ALL_TABLES: Final[tuple[Table, ...]] = (TRACKING, *VIEW_TABLES)


# ---------------------------------------------------------------------- records → rows
def mentor_row(m: MentorView) -> Row:
    return MENTORS.row(m, *(m.first_completed.get(module) for module in MODULES))


class DuoRows(NamedTuple):
    """The rows of one duo in the tables made from its record as a whole."""

    duo: Row
    facts: Row
    months: list[Row]
    days: Row
    departure: Row | None
    spans: list[Row]


def duo_rows(d: DuoView, programme: ProgrammeView | None) -> DuoRows:
    """The duo's rows in ``proj_duos``, ``proj_duo_facts``, ``proj_duo_months``,
    ``proj_duo_days``, ``proj_attention_spans`` (judged by ``programme``'s policy) and
    (with a departure) ``proj_departures``."""
    facts, timeline = _duo_facts(d)
    # The counts at each change of the contacts, for the month states and the spans.
    states = timeline_states(timeline)
    found = [] if programme is None else attention_spans(
        facts, timeline, [r.occurred_on for r in d.reviews],
        NEVER if d.departed_on is None else day(d.departed_on),
        first_meeting_within_days=programme.first_meeting_within_days,
        contact_interval_days=programme.contact_interval_days,
        max_duration_days=programme.max_duration_days,
        review_interval_days=programme.review_interval_days,
        reviews_first_interval=programme.reviews_first_interval, states=states)
    logged = len(d.contacts)
    settled = iso_day(facts[12])
    extras = pack_extras(d, facts, PolicyDays() if programme is None
                         else PolicyDays.of(programme))
    return DuoRows(
        DUOS.row(d, logged, logged - facts[7], facts[10], iso_day(facts[11]), settled,
                 len(d.reviews), max((r.occurred_on for r in d.reviews), default=None),
                 len(d.corrections)),
        DUO_FACTS.row(d, settled, pack_facts(facts) + extras.head, pack_timeline(timeline),
                      extras.entries),
        [DUO_MONTHS.row(d, month, packed)
         for month, packed in month_states(facts, timeline, states)],
        DUO_DAYS.row(d, *facts[:5], facts[11], facts[12]),
        None if d.departed_on is None else DEPARTURES.row(
            d, int(d.chain_id == d.duo_id and d.successor_duo_id is None)),
        [(d.programme_id, int(end - start > SHORT), start, d.duo_id, reason, end, d.site_id,
          facts[1], facts[2], facts[3]) for reason, start, end in found])


def review_row(duo_id: str, r: ReviewView) -> Row:
    return REVIEWS.row(r, duo_id, day(r.occurred_on))


# ---------------------------------------------------------------------- rows → records
_MODULE_CELLS: Final = tuple(MENTORS.position(f"{m}_on") for m in MODULES)


def mentor_from_row(r: Sequence[Any]) -> MentorView:
    """The mentor; its ``trained_on`` follows from the modules' first completions."""
    found: MentorView = MENTORS.read(r, first_completed={
        m: r[i] for m, i in zip(MODULES, _MODULE_CELLS, strict=True) if r[i] is not None})
    return found

