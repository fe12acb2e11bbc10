"""Domain errors: each names the contract rule (CONTRACT §2) and the field at fault."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a rule of the contract; nothing was written.

    Attributes:
        rule: the number of the rule in CONTRACT §2 that was broken.
        field: the command field at fault, when one can be named.
    """

    rule: int = 0

    def __init__(self, message: str, *, field: str | None = None, rule: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"rule {self.rule}{where}: {self.message}"


class InvalidCommand(DomainError):
    """A field is missing, unknown, or of the wrong type or value set (rule 1)."""

    rule = 1


class UnknownReference(DomainError):
    """A referenced programme, site, mentor or duo does not exist (rule 2)."""

    rule = 2


class AlreadyExists(DomainError):
    """An id being created already exists (rule 2)."""

    rule = 2


class WrongProgramme(DomainError):
    """A site, mentor or duo belongs to another programme or site (rule 3)."""

    rule = 3


class TransitionNotAllowed(DomainError):
    """The duo's state does not allow the command's transition (rule 4)."""

    rule = 4


class DateInFuture(DomainError):
    """`occurred_on` is later than today (rule 5)."""

    rule = 5


class DateBeforeDependency(DomainError):
    """`occurred_on` is earlier than the date of the thing it depends on (rule 5)."""

    rule = 5


class DateBeforeLifecycle(DomainError):
    """`occurred_on` precedes the duo's latest lifecycle date or counted contact (rule 6)."""

    rule = 6


class ContactOutsideActivePeriod(DomainError):
    """A contact dated outside the duo's active period, or a reused contact id (rule 7)."""

    rule = 7


class ContactNotRetractable(DomainError):
    """The contact is unknown, already retracted, or dated after the retraction (rule 8)."""

    rule = 8


class ReviewOutOfPeriod(DomainError):
    """A review before recruitment or after closure (rule 9)."""

    rule = 9


class SurveyNotAllowed(DomainError):
    """A survey before recruitment, or a second one for respondent and phase (rule 10)."""

    rule = 10


class MentorNotAllowed(DomainError):
    """The mentor kind is outside the policy, or the mentor is not yet trained (rule 11)."""

    rule = 11


class MentorNotTrained(MentorNotAllowed):
    """The policy requires a trained mentor and the mentor was not trained in time (rule 11)."""


class PredecessorInvalid(DomainError):
    """The named predecessor duo cannot precede this one (rule 12)."""

    rule = 12


class CommandIdConflict(DomainError):
    """The command id was already applied with different content (rule 13)."""

    rule = 13


class MentorDeregistered(MentorNotAllowed):
    """The mentor was deregistered on or before the match (rule 11 v2)."""


class DeregistrationInvalid(DomainError):
    """The mentor is deregistered already, or would be before registration (rule 14)."""

    rule = 14


class CorrectionInvalid(DomainError):
    """A correction of a fact the duo has not reached, of an unchanged value, or one
    that would leave the duo breaking a rule (rule 15)."""

    rule = 15


class DepartureInvalid(DomainError):
    """A departure dated before its chain's first recruitment, or a second one for the
    chain (rule 17)."""

    rule = 17


class ErasureInvalid(DomainError):
    """``forget`` of an id the store does not use, or of one forgotten already, or in a
    store that cannot erase; or a command naming a forgotten person (rule 16)."""

    rule = 16
