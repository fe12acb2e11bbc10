"""Fixtures shared by the projection tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    """A database in memory for the views."""
    connection = sqlite3.connect(":memory:")
    yield connection
    connection.close()
