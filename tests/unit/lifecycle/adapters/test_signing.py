"""Signed chain heads (``lifecycle.adapters.signing``, ADR 26): where the signing key
comes from and what is refused, the key pair ``audit keygen`` writes, what a signature
binds, and the verdict on a history's signed heads (on in-memory sources)."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lifecycle.adapters.audit import SignedHead, Verification
from lifecycle.adapters.signed_heads import check_signatures
from lifecycle.adapters.signing import (
    KEY_FILE_VARIABLE,
    KEY_VARIABLE,
    Signer,
    SigningError,
    fingerprint,
    generate,
    load_public_key,
    message,
    signer_from_environment,
    verifies,
)

HEAD = bytes(range(32))


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def raw64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())).decode()


def private_file(folder: Path, data: bytes, mode: int = 0o600) -> Path:
    path = folder / "signing.key"
    path.write_bytes(data)
    path.chmod(mode)
    return path


# ---------------------------------------------------------------------- the key's source
def test_no_variable_means_no_signing() -> None:
    assert signer_from_environment({}) is None


@pytest.mark.parametrize("form", ["pem", "base64"])
def test_the_key_may_be_given_in_the_environment_as_pem_or_base64(form: str) -> None:
    key = Ed25519PrivateKey.generate()
    value = pem(key).decode() if form == "pem" else raw64(key)
    signer = signer_from_environment({KEY_VARIABLE: value})
    assert signer is not None
    assert verifies(key.public_key(), 7, HEAD, signer.sign(7, HEAD))


def test_the_key_may_be_given_as_a_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = private_file(tmp_path, pem(key))
    signer = signer_from_environment({KEY_FILE_VARIABLE: str(path)})
    assert signer is not None
    assert fingerprint(signer.public_key) == fingerprint(key.public_key())


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_key_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = private_file(tmp_path, pem(Ed25519PrivateKey.generate()), mode)
    with pytest.raises(SigningError, match=f"may be read by others \\(mode 0{mode:o}\\)"):
        signer_from_environment({KEY_FILE_VARIABLE: str(path)})


def test_a_missing_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SigningError, match=r"cannot read '.*absent.key': No such file"):
        signer_from_environment({KEY_FILE_VARIABLE: str(tmp_path / "absent.key")})


def test_both_variables_at_once_are_refused() -> None:
    with pytest.raises(SigningError, match="not both"):
        signer_from_environment({KEY_VARIABLE: raw64(Ed25519PrivateKey.generate()),
                                 KEY_FILE_VARIABLE: "/somewhere"})


@pytest.mark.parametrize("value", [
    "not a key", base64.b64encode(b"too short").decode(),
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode(),
])
def test_what_is_not_an_ed25519_private_key_is_refused(value: str) -> None:
    with pytest.raises(SigningError, match=f"{KEY_VARIABLE}: not an Ed25519 private key"):
        signer_from_environment({KEY_VARIABLE: value})


# ---------------------------------------------------------------------- keygen
def test_keygen_writes_a_pair_the_private_key_readable_by_its_owner_only(
        tmp_path: Path) -> None:
    old = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        pair = generate(tmp_path / "auditor")
    finally:
        os.umask(old)
    assert stat.S_IMODE(pair.private.stat().st_mode) == 0o600
    signer = signer_from_environment({KEY_FILE_VARIABLE: str(pair.private)})
    public = load_public_key(pair.public)
    assert signer is not None and fingerprint(public) == pair.fingerprint
    assert verifies(public, 3, HEAD, signer.sign(3, HEAD))


@pytest.mark.parametrize("existing", ["auditor.key", "auditor.pub"])
def test_keygen_never_overwrites_a_key(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("kept")
    with pytest.raises(SigningError, match="exists already"):
        generate(tmp_path / "auditor")
    assert (tmp_path / existing).read_text() == "kept"
    assert len(list(tmp_path.iterdir())) == 1


def test_a_public_key_file_must_hold_an_ed25519_public_key(tmp_path: Path) -> None:
    path = tmp_path / "x.pub"
    path.write_bytes(pem(Ed25519PrivateKey.generate()))
    with pytest.raises(SigningError, match="holds no Ed25519 public key"):
        load_public_key(path)
    with pytest.raises(SigningError, match="cannot read public key"):
        load_public_key(tmp_path / "absent.pub")


# ---------------------------------------------------------------------- what is signed
def test_a_signature_binds_the_head_and_its_position_under_the_engine_s_label() -> None:
    key = Ed25519PrivateKey.generate()
    signature = Signer(key).sign(9, HEAD)
    assert verifies(key.public_key(), 9, HEAD, signature)
    assert not verifies(key.public_key(), 10, HEAD, signature)
    assert not verifies(key.public_key(), 9, bytes(32), signature)
    assert not verifies(Ed25519PrivateKey.generate().public_key(), 9, HEAD, signature)
    # The bare head, unlabelled, is not what the engine signs.
    assert not verifies(key.public_key(), 9, HEAD, key.sign(HEAD))
    assert message(9, HEAD).endswith((9).to_bytes(8, "big") + HEAD)


# ---------------------------------------------------------------------- the verdict
@dataclass
class FakeSigned:
    """Signed heads and event positions held in lists."""

    heads: list[SignedHead]
    positions: list[int]
    asked: list[int] = field(default_factory=list)

    def signed_heads(self) -> Iterator[SignedHead]:
        yield from self.heads

    def events_after(self, position: int) -> tuple[int, int | None]:
        self.asked.append(position)
        after = [p for p in self.positions if p > position]
        return len(after), (after[0] if after else None)


KEY = Ed25519PrivateKey.generate()
INTACT = Verification(True, 6, "ab" * 32, last_position=6)


def links(count: int) -> dict[int, bytes]:
    return {p: bytes([p]) * 32 for p in range(1, count + 1)}


def signed(position: int, chained: dict[int, bytes], key: Ed25519PrivateKey = KEY,
           head: bytes | None = None) -> SignedHead:
    head = chained[position] if head is None else head
    return SignedHead(position, head, key.sign(message(position, head)), chained.get(position))


def test_a_history_signed_up_to_its_last_event_verifies_with_the_count_and_key() -> None:
    chained = links(6)
    result = check_signatures(FakeSigned([signed(2, chained), signed(6, chained)],
                                         list(chained)), KEY.public_key(), INTACT)
    assert result.ok
    assert result.signed == {"position": 6, "signatures": 2,
                             "key": fingerprint(KEY.public_key())}
    assert result.as_json()["signed"] == result.signed


def test_events_after_the_last_signature_are_unsigned_from_the_first_of_them() -> None:
    chained = links(6)
    result = check_signatures(FakeSigned([signed(2, chained), signed(4, chained)],
                                         list(chained)), KEY.public_key(), INTACT)
    assert (result.ok, result.position) == (False, 5)
    assert result.problem == ("2 events after position 4 are not signed, from position 5 "
                              "on (written without the signing key)")


def test_a_history_without_any_signature_is_unsigned_from_its_first_event() -> None:
    result = check_signatures(FakeSigned([], list(links(6))), KEY.public_key(), INTACT)
    assert (result.ok, result.position) == (False, 1)
    assert result.problem == ("6 events (no head is signed) are not signed, from position 1 "
                              "on (written without the signing key)")


def test_a_signature_by_another_key_is_reported_at_its_position() -> None:
    chained = links(6)
    heads = [signed(2, chained), signed(4, chained, Ed25519PrivateKey.generate()),
             signed(6, chained)]
    result = check_signatures(FakeSigned(heads, list(chained)), KEY.public_key(), INTACT)
    assert (result.ok, result.position) == (False, 4)
    assert "does not verify with this public key" in str(result.problem)


def test_a_signed_head_that_is_not_the_chain_s_link_there_was_rewritten() -> None:
    chained = links(6)
    heads = [signed(3, chained, head=bytes(32)), signed(6, chained)]
    result = check_signatures(FakeSigned(heads, list(chained)), KEY.public_key(), INTACT)
    assert (result.ok, result.position) == (False, 3)
    assert "is not the chain's link there (the history was rewritten" in str(result.problem)


def test_a_signature_where_there_is_no_event_is_reported() -> None:
    chained = links(6)
    orphan = SignedHead(9, HEAD, KEY.sign(message(9, HEAD)), None)
    result = check_signatures(FakeSigned([signed(6, chained), orphan], list(chained)),
                              KEY.public_key(), INTACT)
    assert (result.ok, result.position) == (False, 9)
    assert "is no event's chain link" in str(result.problem)


def test_a_broken_chain_is_the_verdict_whatever_the_signatures() -> None:
    broken = Verification(False, 2, "cd" * 32, "event at position 3 … does not match", 3)
    source = FakeSigned([], [1, 2, 3])
    assert check_signatures(source, KEY.public_key(), broken) is broken
    assert source.asked == []
