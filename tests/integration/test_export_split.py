"""Split verification of an uncompressed export (``ExportReader.split_spans``): the fast
pass checked in byte ranges of whole lines, the first in the calling process and each
other by a worker interpreter, each from the link of the record before it. Whatever the
file holds, the verdict must be exactly the single-process one (``processes=1``):
the same problem, position, count and head — for the edits of the export-format tests,
with and without a digest, and with signed heads between the records.

``SPLIT_MIN_BYTES`` is lowered so that a file of a few hundred events splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from export_cases import FILE_EDITS, FakeStore, chained_store, engine_cells, spy_on_workers
from lifecycle.adapters import export as export_module
from lifecycle.adapters.audit import Digest, Verification, make_digest, verify
from lifecycle.adapters.export import ExportReader, write_export
from lifecycle.adapters.signing import message

EVENTS = 600


@pytest.fixture(autouse=True)
def small_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "SPLIT_MIN_BYTES", 20_000)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The jobs of the workers started."""
    return spy_on_workers(monkeypatch)


def signed_store(events: int, every: int = 7) -> FakeStore:
    """Engine-shaped events, with a signed head after every ``every``-th."""
    store = chained_store(engine_cells(events))
    key = Ed25519PrivateKey.generate()
    rows: list[Any] = []
    for row in store.rows:
        rows.append(row)
        if row[0] % every == 0:
            rows.append((row[0], row[-1], key.sign(message(row[0], row[-1]))))
    return FakeStore(rows)


def exported(store: FakeStore, path: Path) -> Path:
    with path.open("wb") as out:
        write_export(store, out)
    return path


def both(path: Path, digest: Digest | None = None) -> tuple[Verification, Verification]:
    reader = ExportReader(path)
    return verify(reader, digest, processes=3), verify(reader, digest, processes=1)


def test_an_intact_export_splits_and_gives_the_single_process_verdict(
        tmp_path: Path, started: list[dict[str, Any]]) -> None:
    path = exported(signed_store(EVENTS), tmp_path / "history.jsonl")
    split, single = both(path)
    assert started, "the export was not split"
    assert split == single and split.ok and split.events == EVENTS


@pytest.mark.parametrize("edit", list(FILE_EDITS))
def test_an_edited_export_gets_the_single_process_verdict_when_split(
        tmp_path: Path, edit: str, started: list[dict[str, Any]]) -> None:
    change, _, _ = FILE_EDITS[edit]
    path = exported(signed_store(EVENTS), tmp_path / "history.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(change(lines)))
    split, single = both(path)
    assert split == single and not split.ok


@pytest.mark.parametrize("at", [0.2, 0.5, 0.8])
def test_an_edit_anywhere_is_named_as_one_process_names_it(
        tmp_path: Path, at: float, started: list[dict[str, Any]]) -> None:
    path = exported(signed_store(EVENTS), tmp_path / "history.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    index = int(len(lines) * at)
    while b'"payload"' not in lines[index]:
        index += 1
    lines[index] = lines[index].replace(b'"minutes":', b'"minutes":9', 1)
    path.write_bytes(b"".join(lines))
    split, single = both(path)
    assert started and split == single and not split.ok
    assert "does not match the chain" in str(split.problem)


@pytest.mark.parametrize("kept", [EVENTS // 3, EVENTS - 1, EVENTS])
def test_the_digest_is_checked_wherever_its_position_falls(
        tmp_path: Path, kept: int, started: list[dict[str, Any]]) -> None:
    whole = signed_store(EVENTS)
    digest = make_digest(FakeStore([r for r in whole.rows if r[0] <= kept]))  # type: ignore[arg-type]
    path = exported(whole, tmp_path / "history.jsonl")
    split, single = both(path, digest)
    assert split == single and split.ok
    wrong = Digest(digest.events, digest.position, "00" * 32, "", "")
    split, single = both(path, wrong)
    assert split == single and not split.ok


def test_a_gzip_export_is_not_split(tmp_path: Path, started: list[dict[str, Any]]) -> None:
    import gzip

    plain = exported(signed_store(EVENTS), tmp_path / "history.jsonl")
    packed = tmp_path / "history.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    split, single = both(packed)
    assert split == single and split.ok
    assert started == []

