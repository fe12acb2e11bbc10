"""The master key, the keys derived from it and the sealing of personal fields."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from lifecycle.adapters.crypto import (
    MASTER_KEY_ENV,
    SEALED_PREFIX,
    MasterKeyError,
    PersonKeys,
    SealedFieldError,
    default_key_path,
    is_sealed,
    load_master_key,
    open_fields,
    seal,
    seal_fields,
    sealed_reference,
    unseal,
)

MASTER = bytes(range(32))


@pytest.fixture(autouse=True)
def _no_master_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)


def test_a_missing_key_file_is_created_with_mode_0600_and_read_back_the_same(
        tmp_path: Path) -> None:
    key_file = tmp_path / "conf" / "master.key"
    key = load_master_key(key_file, create=True)
    assert len(key) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_master_key(key_file, create=False) == key


def test_a_missing_key_file_is_an_error_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="not found"):
        load_master_key(tmp_path / "master.key", create=False)
    assert not (tmp_path / "master.key").exists()


def test_the_environment_variable_wins_over_the_key_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, base64.b64encode(MASTER).decode())
    assert load_master_key(tmp_path / "master.key", create=True) == MASTER
    assert not (tmp_path / "master.key").exists()


@pytest.mark.parametrize(("text", "problem"), [
    ("not base64!", "not base64"),
    (base64.b64encode(b"short").decode(), "has 5 bytes"),
])
def test_a_malformed_master_key_is_refused_naming_its_source(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, problem: str) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, text)
    with pytest.raises(MasterKeyError, match=rf"\$LIFECYCLE_MASTER_KEY.*{problem}|{problem}"):
        load_master_key(tmp_path / "master.key", create=True)
    monkeypatch.delenv(MASTER_KEY_ENV)
    (tmp_path / "master.key").write_text(text)
    with pytest.raises(MasterKeyError, match=str(tmp_path / "master.key")):
        load_master_key(tmp_path / "master.key", create=False)


def test_the_default_key_file_is_one_per_installation_in_the_config_folder(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_key_path() == tmp_path / "lifecycle" / "master.key"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_key_path() == tmp_path / "home" / ".config" / "lifecycle" / "master.key"


def test_a_reference_is_a_keyed_hash_equal_for_equal_ids_only() -> None:
    keys = PersonKeys(MASTER)
    ref = keys.reference("zz-forget-me-7731")
    assert ref == keys.reference("zz-forget-me-7731")
    assert ref != keys.reference("zz-forget-me-7732")
    assert len(ref) == 64 and "zz-forget" not in ref
    # Under another master key the same id has another reference: without the key, a
    # reference cannot be computed from a guessed id.
    assert PersonKeys(bytes(32)).reference("zz-forget-me-7731") != ref


def test_the_check_value_accepts_the_same_master_key_and_refuses_another() -> None:
    stored = PersonKeys(MASTER).check_value()
    PersonKeys(MASTER).verify(stored)
    with pytest.raises(MasterKeyError, match="not this store's"):
        PersonKeys(bytes(32)).verify(stored)


def test_a_wrapped_data_key_opens_only_for_its_person_under_its_master_key() -> None:
    keys = PersonKeys(MASTER)
    data_key = keys.new_data_key()
    wrapped = keys.wrap("ref-a", data_key)
    assert data_key not in wrapped
    assert keys.unwrap("ref-a", wrapped) == data_key
    with pytest.raises(MasterKeyError):
        keys.unwrap("ref-b", wrapped)
    with pytest.raises(MasterKeyError):
        PersonKeys(bytes(32)).unwrap("ref-a", wrapped)


def test_a_sealed_field_hides_its_value_names_its_person_by_reference_and_opens_the_same(
        ) -> None:
    keys = PersonKeys(MASTER)
    ref = keys.reference("zz-forget-me-7731")
    data_key = keys.new_data_key()
    sealed = seal(data_key, ref, "shifts", ["zz-night-shift-88", "early"])
    assert sealed.startswith(f"{SEALED_PREFIX}{ref}:") and is_sealed(sealed)
    assert sealed_reference(sealed) == ref
    assert "zz-night-shift-88" not in sealed and "zz-forget" not in sealed
    assert unseal(data_key, "shifts", sealed) == ["zz-night-shift-88", "early"]
    # A fresh nonce each time: equal values do not give equal ciphertexts.
    assert seal(data_key, ref, "shifts", ["early"]) != seal(data_key, ref, "shifts", ["early"])


def test_a_sealed_field_does_not_open_for_another_person_field_or_key() -> None:
    data_key = PersonKeys.new_data_key()
    sealed = seal(data_key, "ref-a", "department", "zz-wing-c")
    moved = sealed.replace("enc1:ref-a:", "enc1:ref-b:")
    with pytest.raises(SealedFieldError):
        unseal(data_key, "department", moved)
    with pytest.raises(SealedFieldError):
        unseal(data_key, "shifts", sealed)
    with pytest.raises(SealedFieldError):
        unseal(PersonKeys.new_data_key(), "department", sealed)
    for not_sealed in ("zz-wing-c", "enc1:", "enc1:no-body"):
        with pytest.raises(SealedFieldError):
            unseal(data_key, "department", not_sealed)
    assert not is_sealed("zz-wing-c") and not is_sealed(3)


def test_an_event_state_seals_the_fields_of_each_owner_and_opens_back_the_same() -> None:
    keys = {"ref-mentee": PersonKeys.new_data_key(), "ref-mentor": PersonKeys.new_data_key()}
    made: list[str] = []

    def key_for(ref: str) -> bytes:
        made.append(ref)
        return keys[ref]

    state = {"duo_id": "D-1", "respondent": "mentor", "scores": {"stress": 4},
             "mentor_id": "zz-mentor-5", "occurred_on": "2025-02-01"}
    sealed = seal_fields(state, {"scores": "ref-mentor", "mentor_id": "ref-mentor",
                                 "absent": "ref-mentee"}, key_for)
    assert sorted(set(made)) == ["ref-mentor"]
    assert {k: v for k, v in sealed.items() if not is_sealed(v)} == {
        "duo_id": "D-1", "respondent": "mentor", "occurred_on": "2025-02-01"}
    assert open_fields(sealed, keys.get) == state


def test_a_field_of_a_shredded_or_unknown_key_opens_as_null_and_a_damaged_one_is_an_error(
        ) -> None:
    mentee, mentor = PersonKeys.new_data_key(), PersonKeys.new_data_key()
    state = seal_fields({"mentee_id": "zz-forget-me-7731", "health": 2, "duo_id": "D-1"},
                        {"mentee_id": "ref-a", "health": "ref-a"}, lambda _: mentee)
    assert open_fields(state, lambda _: None) == {
        "mentee_id": None, "health": None, "duo_id": "D-1"}
    with pytest.raises(SealedFieldError):
        open_fields(state, lambda _: mentor)
