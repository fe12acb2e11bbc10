"""Rule 15: what a correction of a duo's lifecycle fact must leave intact.

A correction replaces a date or the close reason of a duo as a new event. With the
corrected value the duo must still keep every rule its events were accepted under:
lifecycle dates in order and none later than the correction, recruitment not before the
programme's opening, matching not before the mentor's registration or training nor on
or after the mentor left the pool, every counted contact within the active period,
reviews and surveys within the duo's life, ``completed`` only from ``active``, and the
links of its chain (rules 12 and 17).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Final

from lifecycle.domain.errors import CorrectionInvalid
from lifecycle.domain.programme import Programme
from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import LIFECYCLE_DATES, CloseReason, CorrectableFact

if TYPE_CHECKING:
    from lifecycle.domain.duo import Duo
    from lifecycle.domain.mentor import Mentor

_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class CorrectionContext:
    """What a correction's rules look at besides the duo itself.

    Attributes:
        programme: the duo's programme (its opening, its policy).
        mentor: the matched mentor (None while the duo is not matched).
        predecessor: the duo this one rematches, if any.
        successor: the duo that rematches this one, if any.
        chain_departed_on: the date of the departure recorded for the duo's chain, if
            any (it may not precede the chain's first recruitment, rule 17).
    """

    programme: Programme
    mentor: Mentor | None = None
    predecessor: Duo | None = None
    successor: Duo | None = None
    chain_departed_on: date | None = None


def fact_value(fact: CorrectableFact, text: str) -> date | CloseReason:
    """The value of ``fact`` written as JSON text (an ISO date, or a close reason).

    Raises:
        ValueError: ``text`` is not a value of the fact.
    """
    if fact.is_date:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(f"{fact.value} must be a date written exactly YYYY-MM-DD")
        return date.fromisoformat(text)
    return CloseReason(text)


def fact_text(value: date | CloseReason) -> str:
    """The JSON text of a fact's value (the inverse of :func:`fact_value`)."""
    return value.isoformat() if isinstance(value, date) else value.value


def check_correction(duo: Duo, occurred_on: date, fact: CorrectableFact,
                     value: date | CloseReason, context: CorrectionContext) -> Any:
    """Check that ``fact`` of ``duo`` may become ``value`` on ``occurred_on``.

    Returns:
        The fact's current value (what the correction replaces).

    Raises:
        CorrectionInvalid: naming ``fact``, ``value`` or ``occurred_on``.
    """
    current = getattr(duo, fact.value)
    if current is None:
        raise CorrectionInvalid(
            f"duo '{duo.contract_id}' has no {fact.value} to correct (it is "
            f"'{duo.state.value}')", field="fact")
    if value == current:
        raise CorrectionInvalid(
            f"{fact.value} of duo '{duo.contract_id}' is {fact_text(current)} already",
            field="value")
    if isinstance(value, CloseReason):
        _check_reason(duo, value, context)
    else:
        _check_dates(duo, occurred_on, fact, value, context)
    return current


def _check_reason(duo: Duo, reason: CloseReason, context: CorrectionContext) -> None:
    if context.successor is not None:
        raise CorrectionInvalid(
            f"the close reason of duo '{duo.contract_id}' cannot change: it is the "
            f"predecessor of duo '{context.successor.contract_id}'", field="fact")
    if reason is CloseReason.COMPLETED and duo.closed_from is not DuoState.ACTIVE:
        closed_from = "" if duo.closed_from is None else duo.closed_from.value
        raise CorrectionInvalid(
            f"duo '{duo.contract_id}' was closed from '{closed_from}': only a duo closed "
            "from 'active' can be 'completed'", field="value")


def _check_dates(duo: Duo, occurred_on: date, fact: CorrectableFact, value: date,
                 context: CorrectionContext) -> None:
    dates: dict[CorrectableFact, date | None] = {
        f: getattr(duo, f.value) for f in LIFECYCLE_DATES}
    dates[fact] = value
    steps = [(f, on) for f, on in dates.items() if on is not None]
    for (earlier, first), (later, second) in pairwise(steps):
        if first > second:
            raise CorrectionInvalid(
                f"with {fact.value} {value}, {earlier.value} ({first}) would be after "
                f"{later.value} ({second})", field="value")
    latest_fact, latest = steps[-1]
    if latest > occurred_on:
        raise CorrectionInvalid(
            f"{latest_fact.value} {latest} would be later than the correction itself "
            f"({occurred_on})", field="value" if latest_fact is fact else "occurred_on")
    recruited = value if fact is CorrectableFact.RECRUITED_ON else duo.recruited_on
    programme = context.programme
    if recruited < programme.opened_on:
        raise CorrectionInvalid(
            f"recruited_on {recruited} would be before programme "
            f"'{programme.contract_id}' opened on {programme.opened_on}", field="value")
    if fact is CorrectableFact.MATCHED_ON:
        _check_mentor_on(value, context)
    activated, closed = dates[CorrectableFact.ACTIVATED_ON], dates[CorrectableFact.CLOSED_ON]
    counted = sorted(c.occurred_on for c in duo.contacts.values() if not c.retracted)
    if counted and (activated is None or counted[0] < activated
                    or (closed is not None and counted[-1] > closed)):
        raise CorrectionInvalid(
            f"with {fact.value} {value}, a counted contact (dated {counted[0]} to "
            f"{counted[-1]}) would lie outside the active period", field="value")
    if closed is not None and duo.last_review_on is not None and duo.last_review_on > closed:
        raise CorrectionInvalid(
            f"closed_on {closed} would be before the review of {duo.last_review_on}",
            field="value")
    earliest = min((on for on in (duo.first_review_on, duo.first_survey_on)
                    if on is not None), default=None)
    if earliest is not None and earliest < recruited:
        raise CorrectionInvalid(
            f"recruited_on {recruited} would be after a review or survey of {earliest}",
            field="value")
    _check_chain_dates(duo, recruited, closed, context)


def _check_mentor_on(matched: date, context: CorrectionContext) -> None:
    mentor = context.mentor
    if mentor is None:
        raise ValueError("the correction of matched_on needs the duo's mentor")
    if matched < mentor.registered_on:
        raise CorrectionInvalid(
            f"matched_on {matched} would be before mentor '{mentor.contract_id}' was "
            f"registered on {mentor.registered_on}", field="value")
    trained_on = mentor.trained_on
    if context.programme.policy.require_trained_mentor and (
            trained_on is None or trained_on > matched):
        raise CorrectionInvalid(
            f"matched_on {matched} would be before mentor '{mentor.contract_id}' was "
            f"trained ({trained_on or 'never'})", field="value")
    if mentor.deregistered_on is not None and mentor.deregistered_on <= matched:
        raise CorrectionInvalid(
            f"matched_on {matched} would be on or after mentor '{mentor.contract_id}' "
            f"left the pool ({mentor.deregistered_on})", field="value")


def _check_chain_dates(duo: Duo, recruited: date, closed: date | None,
                       context: CorrectionContext) -> None:
    """Rules 12 and 17 as they apply to the duo's chain."""
    successor = context.successor
    if successor is not None and closed is not None and closed > successor.recruited_on:
        raise CorrectionInvalid(
            f"closed_on {closed} would be after its successor '{successor.contract_id}' "
            f"was recruited on {successor.recruited_on}", field="value")
    predecessor = context.predecessor
    if predecessor is not None and predecessor.closed_on is not None \
            and recruited < predecessor.closed_on:
        raise CorrectionInvalid(
            f"recruited_on {recruited} would be before its predecessor "
            f"'{predecessor.contract_id}' closed on {predecessor.closed_on}", field="value")
    departed_on = context.chain_departed_on
    if departed_on is not None and duo.predecessor_duo_id is None and departed_on < recruited:
        raise CorrectionInvalid(
            f"recruited_on {recruited} would be after the chain's departure from the "
            f"service on {departed_on}", field="value")
