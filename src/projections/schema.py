"""The materialised tables: their columns (documented in ``docs/projections.md``) and
the conversion of read-model records to rows and back.

Types are logical (``text``, ``int``, ``blob``) so one definition serves SQLite and
PostgreSQL. Dates are ISO text (``YYYY-MM-DD``) and recording times canonical UTC text
(``YYYY-MM-DDTHH:MM:SS.ffffffZ``): both sort as they should, on both databases, and
read back unchanged. Booleans are ints 0/1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from projections.extras import pack_extras
from projections.facts import day, iso_day, month_states, pack_facts, pack_timeline
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

SCHEMA_VERSION: Final = 4
"""Raised whenever a table or the meaning of a column changes: views of another version
are rebuilt by the next catch-up."""

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """``text``, ``int`` or ``blob``."""
    doc: str
    not_null: bool = False


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

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def key_positions(self) -> tuple[int, ...]:
        names = self.column_names
        return tuple(names.index(k) for k in self.key)


def _c(name: str, type_: str, doc: str, *, not_null: bool = False) -> Column:
    return Column(name, type_, doc, not_null)


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
        _c("mentor_kinds", "text", "policy: allowed mentor kinds, comma-separated"),
        _c("require_trained_mentor", "int", "policy: 1 when a mentor must be trained"),
        _c("reviews_first_interval", "int", "policy: reviews the first window of the "
           "monitoring schedule requires"),
        _c("review_interval_days", "int", "policy: length of each monitoring window"),
        _c("max_duos_per_mentor", "int", "policy: open duos a mentor takes before "
           "`suggest` lists the mentor after all others"),
    ),
    ("programme_id",),
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
)

MENTORS = Table(
    "proj_mentors",
    "One row per registered mentor, with the date each training module was first "
    "completed.",
    (
        _c("mentor_id", "text", "mentor id", not_null=True),
        _c("programme_id", "text", "programme of the mentor's pool"),
        _c("site_id", "text", "the mentor's site"),
        _c("department", "text", "the mentor's department"),
        _c("shifts", "text", "shift codes, comma-separated in the registered order"),
        _c("years_experience", "int", "years of experience when registered"),
        *_on("registered", "the mentor was registered", always=True),
        *(_c(f"{m}_on", "text", f"first completion of the `{m}` module (null: not yet)")
          for m in MODULES),
        _c("trained_on", "text", "date by which all five modules had been completed at "
           "least once (null: not trained)"),
        _c("training_records", "int", "training records, refreshers included"),
        _c("version", "int", "version of the mentor's latest event"),
        *_on("deregistered", "the mentor left the pool"),
        _c("deregistration_reason", "text", "`left_service`, `withdrew` or `other` (null: "
           "in the pool)"),
    ),
    ("mentor_id",),
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
        _c("shift_overlap", "int", "1 when mentor and mentee share a shift code"),
        _c("same_department", "int", "1 when mentor and mentee share the department"),
        *_on("matched", "of matching"),
        *_on("activated", "of the first meeting"),
        *_on("closed", "of closure"),
        _c("close_reason", "text", "close reason (null: open)"),
        _c("closed_from", "text", "state the duo was closed from (null: open)"),
        _c("initiated_by", "text", "who initiated the closure (null: not said)"),
        _c("exit_interview", "int", "1 when an exit interview was held (null: open)"),
        _c("contacts_logged", "int", "contacts ever logged"),
        _c("contacts_retracted", "int", "of those, retracted"),
        _c("contact_minutes", "int", "minutes of the contacts not retracted"),
        _c("last_contact_on", "text", "latest contact not retracted (null: none)"),
        _c("contacts_settled_on", "text", "latest date of any contact or retraction: "
           "for an as_of on or after it the contact summary holds as it is"),
        _c("reviews", "int", "coordinator reviews"),
        _c("last_review_on", "text", "latest review (null: none)"),
        _c("shifts", "text", "the mentee's shift codes, comma-separated in the recruited "
           "order"),
        _c("chain_id", "text", "the first duo of the mentee's chain (linked by "
           "`predecessor_duo_id`; the duo itself when it rematches none)"),
        *_on("departed", "the mentee left the service, on the duo the departure was "
             "recorded on"),
        _c("departure_reason", "text", "`resigned`, `dismissed`, `retired` or `other`"),
        _c("corrections", "int", "corrections of the duo's lifecycle facts (the dates and "
           "close reason above are the corrected ones)"),
    ),
    ("duo_id",),
    (("programme_id",), ("chain_id",)),
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
        _c("contacts_settled_on", "text", "as in `proj_duos`: for an earlier as_of the "
           "report recounts the duo's contacts from its timeline"),
        _c("report_facts", "blob", "13 little-endian int32 (see below)"),
        _c("contact_timeline", "blob", "one entry of 4 little-endian int32 per contact "
           "(see below)"),
        _c("evaluation_extras", "blob", "what the report's evaluation sections need beyond "
           "the facts: exit interview, first of its chain, reviews, surveys (see below)"),
    ),
    ("programme_id", "duo_id"),
    # Covering the report's query: it reads the packed facts without the timelines.
    (("programme_id", "recruited_on", "contacts_settled_on", "report_facts",
      "evaluation_extras"),),
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
        _c("month", "text", "calendar month `YYYY-MM`", not_null=True),
        _c("duo_id", "text", "duo", not_null=True),
        _c("contact_states", "blob", "header and states of 6 little-endian int32 each "
           "(see below)"),
    ),
    ("programme_id", "month", "duo_id"),
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
        _c("recruited", "int", "day of recruitment"),
        _c("selected", "int", "day of selection"),
        _c("matched", "int", "day of matching"),
        _c("activated", "int", "day of the first meeting"),
        _c("closed", "int", "day of closure"),
        _c("last_contact", "int", "day of the latest contact not retracted (0: none)"),
        _c("settled", "int", "latest day of any contact or retraction (0: none): for a "
           "later date `last_contact` holds as it is"),
    ),
    ("programme_id", "duo_id"),
    (("mentor_id",),),
    clustered=True,
)

CONTACTS = Table(
    "proj_contacts",
    "One row per logged contact, retracted ones included.",
    (
        _c("duo_id", "text", "duo", not_null=True),
        _c("contact_id", "text", "contact id (unique within the duo)", not_null=True),
        _c("logged_version", "int", "version of the duo's ContactLogged event"),
        _c("occurred_on", "text", "date of the contact"),
        _c("recorded_at", "text", "when it was logged"),
        _c("minutes", "int", "minutes (1-1440)"),
        _c("mode", "text", "`in_person`, `phone`, `video`, `message` or `on_shift`"),
        _c("psychosocial", "int", "1 when the contact served the psychosocial function"),
        _c("career", "int", "1 when it served the career function"),
        _c("retracted_on", "text", "business date of its retraction (null: not retracted)"),
        _c("retracted_at", "text", "when the retraction was recorded"),
        _c("retract_reason", "text", "`duplicate`, `wrong_duo` or `did_not_happen`"),
    ),
    ("duo_id", "contact_id"),
)

REVIEWS = Table(
    "proj_reviews",
    "One row per coordinator review.",
    (
        _c("duo_id", "text", "duo", not_null=True),
        _c("version", "int", "version of the duo's Reviewed event", not_null=True),
        _c("occurred_on", "text", "date of the review"),
        _c("recorded_at", "text", "when it was recorded"),
        _c("health", "int", "the relationship's health, 1-5"),
        _c("day", "int", "`occurred_on` as a day number (as in `proj_duo_days`)"),
    ),
    ("duo_id", "version"),
    clustered=True,
)

CORRECTIONS = Table(
    "proj_corrections",
    "One row per correction of a duo's lifecycle fact, with the value it replaced "
    "(what `as_at` before it shows).",
    (
        _c("duo_id", "text", "duo", not_null=True),
        _c("version", "int", "version of the duo's Corrected event", not_null=True),
        _c("fact", "text", "`recruited_on`, `selected_on`, `matched_on`, `activated_on`, "
           "`closed_on` or `close_reason`"),
        _c("value", "text", "the corrected value"),
        _c("previous", "text", "the value it replaced"),
        _c("occurred_on", "text", "date of the correction"),
        _c("recorded_at", "text", "when it was recorded"),
    ),
    ("duo_id", "version"),
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
        _c("reason", "text", "`resigned`, `dismissed`, `retired` or `other`"),
    ),
    ("chain_id",),
)

SURVEYS = Table(
    "proj_surveys",
    "One row per survey answer set (at most one per duo, respondent and phase).",
    (
        _c("duo_id", "text", "duo", not_null=True),
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
)

VIEWS: Final[dict[str, tuple[Table, ...]]] = {
    "programmes": (PROGRAMMES,),
    "sites": (SITES,),
    "mentors": (MENTORS,),
    "duos": (DUOS, DUO_FACTS, DUO_MONTHS, DUO_DAYS, CONTACTS, REVIEWS, SURVEYS, CORRECTIONS,
             DEPARTURES),
}
"""Each view (a tracking row) and the tables it writes."""

VIEW_TABLES: Final[tuple[Table, ...]] = tuple(t for ts in VIEWS.values() for t in ts)
ALL_TABLES: Final[tuple[Table, ...]] = (TRACKING, *VIEW_TABLES)


# ---------------------------------------------------------------------- records → rows
def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def programme_row(p: ProgrammeView) -> Row:
    return (p.programme_id, p.name, p.country, p.opened_on, p.opened_at,
            p.min_duration_days, p.max_duration_days, p.contact_interval_days,
            p.first_meeting_within_days, ",".join(p.mentor_kinds),
            int(p.require_trained_mentor), p.reviews_first_interval, p.review_interval_days,
            p.max_duos_per_mentor)


def site_row(s: SiteView) -> Row:
    return (s.site_id, s.programme_id, s.name, s.setting, s.registered_on, s.registered_at)


def mentor_row(m: MentorView) -> Row:
    return (m.mentor_id, m.programme_id, m.site_id, m.department, ",".join(m.shifts),
            m.years_experience, m.registered_on, m.registered_at,
            *(m.first_completed.get(module) for module in MODULES), m.trained_on,
            m.training_records, m.version, m.deregistered_on, m.deregistered_at,
            m.deregistration_reason)


class DuoRows(NamedTuple):
    """The rows of one duo in the tables made from its record as a whole."""

    duo: Row
    facts: Row
    months: list[Row]
    days: Row
    departure: Row | None


def duo_rows(d: DuoView) -> DuoRows:
    """The duo's rows in ``proj_duos``, ``proj_duo_facts``, ``proj_duo_months``,
    ``proj_duo_days`` and (with a departure) ``proj_departures``."""
    facts, timeline = _duo_facts(d)
    logged = len(d.contacts)
    settled = iso_day(facts[12])
    departure = None if d.departed_on is None else (
        d.chain_id, d.duo_id, d.programme_id, d.departed_on, d.departed_at,
        d.departure_reason)
    return DuoRows((
        d.duo_id, d.programme_id, d.site_id, d.country, d.mentee_id, d.newcomer_kind,
        d.department, d.predecessor_duo_id, d.successor_duo_id, d.state, d.version,
        d.recruited_on, d.recruited_at, d.selected_on, d.selected_at, d.mentor_id,
        d.mentor_kind, _flag(d.shift_overlap), _flag(d.same_department), d.matched_on,
        d.matched_at, d.activated_on, d.activated_at, d.closed_on, d.closed_at,
        d.close_reason, d.closed_from, d.initiated_by, _flag(d.exit_interview),
        logged, logged - facts[7], facts[10], iso_day(facts[11]), settled,
        len(d.reviews), max((r.occurred_on for r in d.reviews), default=None),
        ",".join(d.shifts), d.chain_id, d.departed_on, d.departed_at, d.departure_reason,
        len(d.corrections),
    ), (d.programme_id, d.duo_id, d.site_id, d.recruited_on, settled, pack_facts(facts),
        pack_timeline(timeline), pack_extras(d)), [
        (d.programme_id, month, d.duo_id, states) for month, states in
        month_states(facts, timeline)],
        (d.programme_id, d.duo_id, d.site_id, d.mentor_id, d.mentor_kind, d.chain_id,
         *facts[:5],
         facts[11], facts[12]),
        departure)


def contact_row(duo_id: str, c: ContactView) -> Row:
    return (duo_id, c.contact_id, c.version, c.occurred_on, c.recorded_at, c.minutes,
            c.mode, int(c.psychosocial), int(c.career), c.retracted_on, c.retracted_at,
            c.retract_reason)


def review_row(duo_id: str, r: ReviewView) -> Row:
    return (duo_id, r.version, r.occurred_on, r.recorded_at, r.health, day(r.occurred_on))


def correction_row(duo_id: str, c: CorrectionView) -> Row:
    return (duo_id, c.version, c.fact, c.value, c.previous, c.occurred_on, c.recorded_at)


def survey_row(duo_id: str, s: SurveyView) -> Row:
    return (duo_id, s.respondent, s.phase, s.occurred_on, s.recorded_at, s.wellbeing,
            s.stress, s.integration, s.confidence)


# ---------------------------------------------------------------------- rows → records
def _split(text: str | None) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def programme_from_row(r: Sequence[Any]) -> ProgrammeView:
    return ProgrammeView(
        programme_id=r[0], name=r[1], country=r[2], opened_on=r[3], opened_at=r[4],
        min_duration_days=r[5], max_duration_days=r[6], contact_interval_days=r[7],
        first_meeting_within_days=r[8], mentor_kinds=_split(r[9]),
        require_trained_mentor=bool(r[10]), reviews_first_interval=r[11],
        review_interval_days=r[12], max_duos_per_mentor=r[13])


def site_from_row(r: Sequence[Any]) -> SiteView:
    return SiteView(site_id=r[0], programme_id=r[1], name=r[2], setting=r[3],
                    registered_on=r[4], registered_at=r[5])


_AFTER_MODULES: Final = 8 + len(MODULES)


def mentor_from_row(r: Sequence[Any]) -> MentorView:
    modules = r[8:_AFTER_MODULES]
    # trained_on (at _AFTER_MODULES) follows from the modules
    training_records, version, deregistered_on, deregistered_at, reason = \
        r[_AFTER_MODULES + 1:_AFTER_MODULES + 6]
    return MentorView(
        mentor_id=r[0], programme_id=r[1], site_id=r[2], department=r[3],
        shifts=_split(r[4]), years_experience=r[5], registered_on=r[6], registered_at=r[7],
        version=version, training_records=training_records,
        first_completed={m: on for m, on in zip(MODULES, modules, strict=True)
                         if on is not None},
        deregistered_on=deregistered_on, deregistered_at=deregistered_at,
        deregistration_reason=reason)


def duo_from_row(r: Sequence[Any]) -> DuoView:
    """The duo without its contacts, reviews and surveys (those have tables of their own)."""
    return DuoView(
        duo_id=r[0], programme_id=r[1], site_id=r[2], country=r[3], mentee_id=r[4],
        newcomer_kind=r[5], department=r[6], predecessor_duo_id=r[7],
        successor_duo_id=r[8], state=r[9], version=r[10], recruited_on=r[11],
        recruited_at=r[12], selected_on=r[13], selected_at=r[14], mentor_id=r[15],
        mentor_kind=r[16], shift_overlap=_bool(r[17]), same_department=_bool(r[18]),
        matched_on=r[19], matched_at=r[20], activated_on=r[21], activated_at=r[22],
        closed_on=r[23], closed_at=r[24], close_reason=r[25], closed_from=r[26],
        initiated_by=r[27], exit_interview=_bool(r[28]), shifts=_split(r[36]),
        chain_id=r[37], departed_on=r[38], departed_at=r[39], departure_reason=r[40])


def contact_from_row(r: Sequence[Any]) -> ContactView:
    return ContactView(contact_id=r[1], version=r[2], occurred_on=r[3], recorded_at=r[4],
                       minutes=r[5], mode=r[6], psychosocial=bool(r[7]), career=bool(r[8]),
                       retracted_on=r[9], retracted_at=r[10], retract_reason=r[11])


def correction_from_row(r: Sequence[Any]) -> CorrectionView:
    return CorrectionView(version=r[1], fact=r[2], value=r[3], previous=r[4],
                          occurred_on=r[5], recorded_at=r[6])


def review_from_row(r: Sequence[Any]) -> ReviewView:
    return ReviewView(version=r[1], occurred_on=r[2], recorded_at=r[3], health=r[4])


def survey_from_row(r: Sequence[Any]) -> SurveyView:
    return SurveyView(respondent=r[1], phase=r[2], occurred_on=r[3], recorded_at=r[4],
                      wellbeing=r[5], stress=r[6], integration=r[7], confidence=r[8])


