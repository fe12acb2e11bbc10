"""Rows and records (``projections.schema``): each table's column order is written once,
in its definition, and the row of a record and the record of a row both follow it."""

from __future__ import annotations

import inspect
import random
from typing import Any

import pytest
from projection_builders import random_log

from projections import schema as s
from projections.fold import fold
from projections.views import ReadModel
from projections.writing import view_rows

LOADED = [t for t in s.ALL_TABLES if t.record is not None]


def model() -> ReadModel:
    return fold(random_log(random.Random(7), max_duos=12, v2=True).events)


@pytest.mark.parametrize("table", s.ALL_TABLES, ids=lambda t: t.name)
def test_a_row_function_takes_the_record_then_the_columns_without_a_field(
        table: s.Table) -> None:
    given = [c.name for c in table.columns if c.field is None]
    assert list(inspect.signature(table.row).parameters) == ["r", *given]


def test_every_row_written_has_one_cell_per_column_of_its_table() -> None:
    for table, rows in view_rows(model(), s.VIEWS):
        for row in rows:
            assert len(row) == len(table.columns), table.name


def test_a_record_read_back_from_its_row_is_the_record() -> None:
    state = model()
    rows: dict[str, list[tuple[Any, ...]]] = {
        t.name: list(r) for t, r in view_rows(state, s.VIEWS)}
    assert [s.PROGRAMMES.read(r) for r in rows[s.PROGRAMMES.name]] == [
        state.programmes[k] for k in sorted(state.programmes)]
    assert [s.SITES.read(r) for r in rows[s.SITES.name]] == [
        state.sites[k] for k in sorted(state.sites)]
    assert [s.mentor_from_row(r) for r in rows[s.MENTORS.name]] == [
        state.mentors[k] for k in sorted(state.mentors)]
    duos = [state.duos[k] for k in sorted(state.duos)]
    for row, duo in zip(rows[s.DUOS.name], duos, strict=True):
        bare = s.DUOS.read(row, contacts=duo.contacts, reviews=duo.reviews,
                           surveys=duo.surveys, corrections=duo.corrections)
        assert bare == duo
    assert [s.CONTACTS.read(r) for r in rows[s.CONTACTS.name]] == [
        d.contacts[c] for d in duos for c in sorted(d.contacts)]
    assert [s.REVIEWS.read(r) for r in rows[s.REVIEWS.name]] == [
        r for d in duos for r in d.reviews]


def test_a_cell_holds_its_stored_form_and_reads_back_as_the_field() -> None:
    column = next(c for c in s.PROGRAMMES.columns if c.name == "mentor_kinds")
    programme = next(iter(model().programmes.values()))
    row = s.PROGRAMMES.row(programme)
    cell = row[s.PROGRAMMES.position("mentor_kinds")]
    assert cell == ",".join(programme.mentor_kinds)
    assert column.load is not None and column.load(cell) == programme.mentor_kinds
    assert row[s.PROGRAMMES.position("require_trained_mentor")] in (0, 1)


def test_rows_of_a_table_never_loaded_have_no_reader() -> None:
    with pytest.raises(TypeError, match="proj_duo_facts are never loaded"):
        s.DUO_FACTS.read((None,) * len(s.DUO_FACTS.columns))
