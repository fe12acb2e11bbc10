"""Reading an ``If-Match`` header (RFC 9110: a list of strong entity tags, or ``*``)
into the duo versions a command may be applied to."""

from __future__ import annotations

import pytest

from lifecycle.application.commands import parse_command
from lifecycle.entrypoints.http.problems import Problem
from lifecycle.entrypoints.http.routes.commands import if_match

REVIEW = parse_command({"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-1",
                        "health": 3})


@pytest.mark.parametrize(("header", "versions"), [
    (None, None),
    ("*", "*"),
    (' "*" ', None),
    ('"3"', frozenset({3})),
    ('"3", "5"', frozenset({3, 5})),
    ('W/"3", "4"', frozenset({4})),  # a weak tag never matches
    ('W/"3"', frozenset()),
])
def test_an_if_match_header_names_the_versions_it_accepts(
        header: str | None, versions: object) -> None:
    if versions is None and header is not None:
        with pytest.raises(Problem):
            if_match(header, REVIEW)
        return
    assert if_match(header, REVIEW) == versions


@pytest.mark.parametrize("header", ["3", '"three"', '"3', '"-1"', '"٣"', ""])
def test_an_if_match_header_that_is_not_a_list_of_entity_tags_is_a_bad_request(
        header: str) -> None:
    with pytest.raises(Problem) as caught:
        if_match(header, REVIEW)
    assert caught.value.status == 400


def test_if_match_applies_only_to_a_command_that_names_a_duo() -> None:
    opening = parse_command({"type": "open_programme", "occurred_on": "2025-01-02",
                             "programme_id": "P-1", "name": "x", "country": "DK"})
    with pytest.raises(Problem) as caught:
        if_match('"1"', opening)
    assert caught.value.status == 400
    assert caught.value.extra["field"] == "duo_id"
