"""Publishing, worked out by hand at the edges of the rules (CONTRACT §6, ADR 20):
counts and at-risk numbers equal to K, a breakdown's own comparison, columns whose
unbroken figure is hidden, figures that do not add up, v1 breakdowns, suppression that
takes more than one round, and the rule table's patterns."""

from __future__ import annotations

from typing import Any

import pytest

from projections.publish import (
    Count,
    Kind,
    Label,
    PublishError,
    Unclassified,
    classify,
    parse_path,
    path_text,
    publish,
)


def breakdown(groups: dict[str, dict[str, Any]], **own: Any) -> dict[str, Any]:
    return {"as_of": "2025-07-31", "by": "site", **own, "groups": groups}


def dropouts(count: int | None, **by_reason: int | None) -> dict[str, Any]:
    return {"dropouts": {"count": count, "by_reason": by_reason}}


def test_events_and_censored_of_exactly_k_in_a_kept_row_are_published() -> None:
    """Only 1 … K − 1 is small: K itself is shown."""
    rows = [{"t": 0, "at_risk": 30, "events": 0, "censored": 0},
            {"t": 10, "at_risk": 30, "events": 3, "censored": 2},
            {"t": 20, "at_risk": 25, "events": 2, "censored": 3}]
    for row in rows:
        row |= {"s": 1.0, "lower": 1.0, "upper": 1.0}
    published = publish({"dropouts": {"survival_curve": rows}}, 3)
    assert [(r["events"], r["censored"]) for r in published["dropouts"]["survival_curve"]
            ] == [(0, 0), (3, None), (None, 3)]
    assert published["suppressed"] == ["dropouts.survival_curve.1.censored",
                                       "dropouts.survival_curve.2.events"]


def test_a_breakdowns_log_rank_comparison_is_published_beside_its_groups() -> None:
    """The comparison is the breakdown's own figure, not a column adding up to the
    unbroken report (which has none): shown when the smallest group has K duos."""
    comparison = {"survival_logrank": {"groups": ["A", "B"], "smallest_group": 12,
                                       "statistic": 1.5, "df": 1, "p_value": 0.22}}
    groups = {"A": {"duos": {"total": 12}}, "B": {"duos": {"total": 30}}}
    published = publish(breakdown(groups, comparison=comparison), 10,
                        overall={"duos": {"total": 42}})
    assert published["comparison"] == comparison
    assert published["groups"] == groups
    assert published["suppressed"] == []


def test_a_column_whose_unbroken_figure_is_hidden_needs_no_second_hidden_cell() -> None:
    """K = 10. The unbroken report hides ``other`` (2) and, beside it, ``mentee_withdrew``
    (22). B's ``other`` is hidden and its ``mentee_withdrew`` with it (its count is
    shown). In the column of ``mentee_withdrew`` the unbroken figure is hidden too, so
    A's 11 gives nothing away: it stays."""
    groups = {"A": dropouts(11, mentee_withdrew=11, other=0),
              "B": dropouts(13, mentee_withdrew=11, other=2)}
    overall = dropouts(24, mentee_withdrew=22, other=2)
    assert publish(overall, 10)["dropouts"] == dropouts(24, mentee_withdrew=None,
                                                        other=None)["dropouts"]
    published = publish(breakdown(groups), 10, overall=overall)
    assert published["groups"] == {"A": dropouts(11, mentee_withdrew=11, other=0),
                                   "B": dropouts(13, mentee_withdrew=None, other=None)}
    assert published["suppressed"] == ["groups.B.dropouts.by_reason.mentee_withdrew",
                                       "groups.B.dropouts.by_reason.other"]


def test_figures_that_do_not_add_up_give_no_figure_away() -> None:
    """K = 5, figures that do not add up (a report edited by hand, or an unbroken
    report of another recording time): B's count 2 is not the unbroken 21 less A's 0,
    nor B's 1 ``mentee_withdrew`` its count, so nothing is taken as given — and A's 8
    is hidden, or 9 − 8 would give B's 1 away."""
    groups = {"A": dropouts(0, mentee_withdrew=8), "B": dropouts(2, mentee_withdrew=1)}
    published = publish(breakdown(groups), 5, overall=dropouts(21, mentee_withdrew=9))
    assert published["groups"] == {"A": dropouts(0, mentee_withdrew=None),
                                   "B": dropouts(None, mentee_withdrew=None)}


def test_a_row_total_given_by_its_given_cells_is_not_protected_in_vain() -> None:
    """K = 3. The unbroken report shows 3 ``other`` dropouts, and each site has one:
    three hidden cells of at least 1 adding up to 3 are ones. B's only other reason is
    a zero, so B's count is its one ``other``: given too. Nothing more needs hiding —
    hiding A's 5 to protect B's count would protect nothing."""
    groups = {"A": dropouts(5, other=1, mismatch=4), "B": dropouts(1, other=1, mismatch=0),
              "C": dropouts(6, other=1, mismatch=5)}
    published = publish(breakdown(groups), 3, overall=dropouts(12, other=3, mismatch=9))
    assert published["groups"] == {"A": dropouts(5, other=None, mismatch=4),
                                   "B": dropouts(None, other=None, mismatch=0),
                                   "C": dropouts(6, other=None, mismatch=5)}
    assert published["suppressed"] == [
        "groups.A.dropouts.by_reason.other", "groups.B.dropouts.by_reason.other",
        "groups.B.dropouts.count", "groups.C.dropouts.by_reason.other"]


def test_a_chain_of_suppression_goes_round_until_nothing_changes() -> None:
    """K = 10. Row B hides its 4 recruited and its 50 active with them; column
    ``recruited`` then takes A's 20 and column ``active`` C's 35. Row A now hides one
    cell only (its 20 is 75 − 15 − 40): a second round takes A's 15, and column
    ``matched`` then C's 12."""
    def site(recruited: int | None, matched: int | None, active: int | None,
             total: int) -> dict[str, Any]:
        return {"duos": {"total": total, "by_state": {
            "recruited": recruited, "matched": matched, "active": active}}}

    groups = {"A": site(20, 15, 40, 75), "B": site(4, 0, 50, 54), "C": site(25, 12, 35, 72)}
    published = publish(breakdown(groups), 10, overall=site(49, 27, 125, 201))
    assert published["groups"] == {"A": site(None, None, 40, 75),
                                   "B": site(None, 0, None, 54),
                                   "C": site(25, None, None, 72)}


def test_each_group_of_a_v1_breakdown_keeps_its_rows() -> None:
    """A v1 report has no ``closure``, so activated = active + closed from active is no
    identity there; the groups' other rows still hold. K = 10: B's 2 ``mentee_withdrew``
    takes B's 12 ``other`` (B's count is shown), and the columns A's 15 and 20."""
    def site(count: int, withdrew: int | None, other: int | None, mismatch: int,
             activated: int) -> dict[str, Any]:
        return {"duos": {"by_state": {"active": 20}},
                "duration": {"time_to_first_meeting_days": {"n": activated}},
                "dropouts": {"count": count, "by_reason": {
                    "mentee_withdrew": withdrew, "other": other, "mismatch": mismatch}}}

    groups = {"A": site(46, 15, 20, 11, 25), "B": site(30, 2, 12, 16, 25)}
    published = publish(breakdown(groups), 10, overall=site(76, 17, 32, 27, 50))
    assert published["groups"] == {"A": site(46, None, None, 11, 25),
                                   "B": site(30, None, None, 16, 25)}


def test_an_identity_of_a_v1_breakdown_does_not_pair_a_cell_with_a_hidden_total() -> None:
    """Without ``closure``, activated is not active: A's ``n`` (4, the partner of B's
    hidden 2) goes alone, and A's and C's active counts stay."""
    def site(active: int, activated: int | None) -> dict[str, Any]:
        return {"duos": {"by_state": {"active": active}},
                "duration": {"time_to_first_meeting_days": {"n": activated}}}

    groups = {"A": site(3, 4), "B": site(0, 2), "C": site(5, 10)}
    published = publish(breakdown(groups), 3, overall=site(8, 16))
    assert published["groups"] == {"A": site(3, None), "B": site(0, None),
                                   "C": site(5, 10)}


def test_a_comparison_of_groups_smaller_than_k_is_hidden() -> None:
    comparison = {"survival_logrank": {"groups": ["A", "B"], "smallest_group": 4,
                                       "statistic": 1.5, "df": 1, "p_value": 0.22}}
    groups = {"A": {"duos": {"total": 4}}, "B": {"duos": {"total": 30}}}
    published = publish(breakdown(groups, comparison=comparison), 10,
                        overall={"duos": {"total": 34}})
    assert published["comparison"] == {"survival_logrank": {
        "groups": ["A", "B"], "smallest_group": None, "statistic": None, "df": 1,
        "p_value": None}}


def test_no_contact_minutes_are_published_whatever_the_contacts() -> None:
    """An amount of zero is made of no contact at all: nothing to hide."""
    report = {"contact_frequency": {"contacts": 0},
              "contact_minutes": {"minutes": 0}}
    assert publish(report, 10)["contact_minutes"]["minutes"] == 0


@pytest.mark.parametrize(("at_risk", "shown"), [(9, False), (10, True)])
def test_a_survival_estimate_needs_exactly_k_at_risk(at_risk: int, shown: bool) -> None:
    """At risk at 30 days: the curve's first row at or after t = 30."""
    rows = [{"t": 0, "at_risk": 40, "events": 0, "censored": 0},
            {"t": 35, "at_risk": at_risk, "events": 0, "censored": 0}]
    report = {"dropouts": {"survival": {"30": 0.9}, "median_survival_days": 35,
                           "survival_curve": rows}}
    published = publish(report, 10)["dropouts"]
    assert (published["survival"]["30"] == 0.9) is shown
    assert (published["median_survival_days"] == 35) is shown


def test_a_summary_or_rate_whose_n_is_missing_or_not_a_number_is_hidden() -> None:
    """Fail closed: the duos behind a figure must be a count the report shows."""
    report = {"duration": {"time_to_match_days": {"median": 3, "mean": 4.5},
                           "relationship_days": {"n": "12", "median": 100}},
              "duos": {"total": 40}, "dropouts": {"count": 12, "rate": 0.3}}
    published = publish(report, 10)
    assert published["duration"] == {"time_to_match_days": {"median": None, "mean": None},
                                     "relationship_days": {"n": None, "median": None}}
    assert published["dropouts"] == {"count": 12, "rate": 0.3}
    del report["duos"]
    assert publish(report, 10)["dropouts"]["rate"] is None


def test_a_report_with_a_groups_key_but_no_by_is_no_breakdown() -> None:
    published = publish({"groups": {"A": {"duos": {"total": 30}}}}, 10)
    assert published["groups"] == {"A": {"duos": {"total": None}}}  # unclassified


def test_a_breakdown_without_its_unbroken_report_is_refused_in_words() -> None:
    with pytest.raises(PublishError, match=(
            r"^publishing a breakdown needs its unbroken report \(overall\)$")):
        publish(breakdown({"A": {"duos": {"total": 30}}}))


@pytest.mark.parametrize(("path", "text"), [
    (("groups", "a[1]", "duos", "total"), 'groups["a[1]"].duos.total'),
    (("groups", "", "duos", "total"), 'groups[""].duos.total'),
    (("groups", "s.1", "x"), 'groups["s.1"].x'),
    (("dropouts", "survival_curve", 3, "events"), "dropouts.survival_curve.3.events")])
def test_a_key_with_a_dot_or_a_bracket_or_no_letter_is_quoted(
        path: tuple[str | int, ...], text: str) -> None:
    assert path_text(path) == text
    assert parse_path(text) == tuple(str(k) for k in path)


def test_a_rule_table_of_ones_own_matches_one_key_per_star_and_either_of_a_choice(
        ) -> None:
    """``classify`` with a table of its own: ``*`` is one key, ``a|b`` either key, the
    first rule that matches wins, and no rule (or no key) leaves it unclassified."""
    table: list[tuple[str, Kind]] = [("alpha.*.gamma|delta", Count()),
                                     ("alpha.*.*", Label())]
    assert classify(("alpha", "x", "delta"), table) == (Count(), ("x",))
    assert classify(("alpha", "x", "gamma"), table) == (Count(), ("x",))
    assert classify(("alpha", "x", "epsilon"), table) == (Label(), ("x", "epsilon"))
    assert classify(("alpha", "x"), table) == (Unclassified(), ())
    assert classify(("beta", "x", "gamma"), table) == (Unclassified(), ())
    assert classify((), table) == (Unclassified(), ())
    assert classify(()) == (Unclassified(), ())


def test_a_rule_that_begins_with_a_star_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^rule '\*\.omega' must begin with a key, not '\*'$"):
        classify(("x", "omega"), [("*.omega", Count())])


def test_each_groups_survival_curve_is_cut_on_its_own() -> None:
    """K = 10: A's curve keeps all its rows, B's has fewer than 10 at risk from t = 0
    (null), C's loses its last row."""
    def rows(*at_risk: int) -> list[dict[str, Any]]:
        return [{"t": 10 * i, "at_risk": n, "events": 0, "censored": 0, "s": 1.0,
                 "lower": 1.0, "upper": 1.0} for i, n in enumerate(at_risk)]

    groups = {g: {"dropouts": {"survival_curve": rows(*n)}}
              for g, n in (("A", (30, 20)), ("B", (8, 5)), ("C", (40, 12, 9)))}
    published = publish(breakdown(groups), 10, overall={})
    assert {g: v["dropouts"]["survival_curve"] for g, v in published["groups"].items()
            } == {"A": rows(30, 20), "B": None, "C": rows(40, 12)}
    assert published["suppressed"] == ["groups.B.dropouts.survival_curve",
                                       "groups.C.dropouts.survival_curve.2"]


def staged(matched: int, active: int, **by_reason: int | None) -> dict[str, Any]:
    """Dropouts by stage and by reason (the count is the stages' sum)."""
    return {"dropouts": {"count": matched + active,
                         "by_stage": {"matched": matched, "active": active},
                         "by_reason": by_reason}}


def test_hidden_ones_beside_a_given_cell_of_a_given_total_are_given() -> None:
    """K = 3. Only B has active dropouts (A shows 0), so B's count is the unbroken 7;
    only B has ``other`` ones, so B's 5 is the unbroken 5. B's two hidden reasons then
    add up to 7 − 5 = 2: two ones, given whatever is hidden, so A's 3 and 3 beside
    them in their columns are not hidden in vain."""
    groups = {"A": staged(6, 0, other=0, mismatch=3, mentee_withdrew=3),
              "B": staged(0, 7, other=5, mismatch=1, mentee_withdrew=1)}
    overall = staged(6, 7, other=5, mismatch=4, mentee_withdrew=4)
    assert publish(overall, 3)["suppressed"] == []
    published = publish(breakdown(groups), 3, overall=overall)
    assert published["groups"] == {
        "A": staged(6, 0, other=0, mismatch=3, mentee_withdrew=3),
        "B": staged(0, 7, other=5, mismatch=None, mentee_withdrew=None)}
    assert published["suppressed"] == ["groups.B.dropouts.by_reason.mentee_withdrew",
                                       "groups.B.dropouts.by_reason.mismatch"]


def test_a_figure_the_unbroken_report_hides_but_gives_away_counts_as_shown() -> None:
    """K = 5. The unbroken report hides its 1 ``mismatch`` and, beside it, its 10
    ``other``. Only B has active dropouts and ``completed`` ones (A and C show 0), so
    B's count is the unbroken 13 and its ``completed`` the unbroken 12; B's other
    reasons are zeros, so its hidden ``mismatch`` is 13 − 12 = 1, and so is the unbroken
    one (A and C have none). The unbroken ``other`` is then 43 − 1 − 20 − 12 = 10, by
    the unbroken report's own reasons: A's 5 and C's 5 adding up to it give nothing
    away, and stay."""
    groups = {"A": staged(15, 0, other=5, mismatch=0, mentee_withdrew=10, completed=0),
              "B": staged(0, 13, other=0, mismatch=1, mentee_withdrew=0, completed=12),
              "C": staged(15, 0, other=5, mismatch=0, mentee_withdrew=10, completed=0)}
    overall = staged(30, 13, other=10, mismatch=1, mentee_withdrew=20, completed=12)
    assert publish(overall, 5)["suppressed"] == ["dropouts.by_reason.mismatch",
                                                 "dropouts.by_reason.other"]
    published = publish(breakdown(groups), 5, overall=overall)
    assert published["groups"]["A"] == groups["A"]
    assert published["groups"]["C"] == groups["C"]
    assert published["suppressed"] == ["groups.B.dropouts.by_reason.mismatch"]
