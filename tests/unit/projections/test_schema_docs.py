"""Every materialised table and column is documented in ``docs/projections.md``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from projections.schema import ALL_TABLES, Table

DOC = Path(__file__).resolve().parents[3] / "docs" / "projections.md"


def _section(text: str, table: str) -> str:
    match = re.search(rf"^### `{table}`\n(.*?)(?=^### |^## |\Z)", text, re.M | re.S)
    assert match, f"docs/projections.md has no section for {table}"
    return match.group(1)


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_each_table_and_column_is_documented(table: Table) -> None:
    section = _section(DOC.read_text(encoding="utf-8"), table.name)
    documented = re.findall(r"^\| `(\w+)` \| (\w+) \|", section, re.M)
    assert documented == [(c.name, c.type) for c in table.columns]
