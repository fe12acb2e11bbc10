"""The keys that protect personal data at rest (ADR 34): a master key, the keys derived
from it, one random data key per person, and the sealing of one personal field.

- The **master key** (32 random bytes) comes from ``$LIFECYCLE_MASTER_KEY`` (base64) or a
  key file, created on first use with mode 0600. It never enters the store.
- From it HKDF-SHA256 derives three keys, each for one purpose only: the **reference
  key** (HMAC-SHA256 of a person id: the keyed hash that lets the engine compare ids and
  name a person's stream without storing the id), the **wrapping key** (AES-GCM over
  each person's data key) and the **check key** (a check value kept in the store, so a
  wrong master key is refused before anything is written).
- Each person has a random 256-bit **data key**, stored only wrapped. A personal field
  is sealed with AES-GCM under it; its associated data binds the ciphertext to the
  person's reference and the field's name, so a sealed value cannot be moved to another
  person or field unnoticed. Shredding the wrapped data key makes every sealed field of
  the person unreadable for good, while the stored bytes (and the hash chain over them)
  stay exactly as they were.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_ENV = "LIFECYCLE_MASTER_KEY"
"""The environment variable holding the master key (base64 of 32 bytes); it wins over
any key file."""

KEY_BYTES = 32
NONCE_BYTES = 12
SEALED_PREFIX = "enc1:"
"""Marks a sealed field in a stored event: ``enc1:<reference>:`` then base64url(nonce ‖
ciphertext ‖ tag)."""

_SALT = b"lifecycle master key v1"
_CHECK_MESSAGE = b"lifecycle: this store's master key"


class MasterKeyError(Exception):
    """The master key is missing, malformed, unreadable or not the store's."""


def default_key_path() -> Path:
    """Where the master key file lives when no other is chosen: one file per user of
    the installation, ``$XDG_CONFIG_HOME/lifecycle/master.key`` (by default
    ``~/.config/lifecycle/master.key``), for every store, SQLite or PostgreSQL.

    Not beside the store: a copy of a store's folder (a backup, a file handed on) must
    not carry the key that opens it, or a forgotten person's wrapped key in that copy
    would still open (ADR 34); and an export restored on the same installation opens
    under the same key without being told where it is.
    """
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "lifecycle" / "master.key"


def decode_master_key(text: str, source: str) -> bytes:
    """The 32 bytes of a base64-written master key.

    Raises:
        MasterKeyError: naming ``source`` when the text is not base64 of 32 bytes.
    """
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"master key in {source} is not base64") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(
            f"master key in {source} has {len(key)} bytes; it must have {KEY_BYTES}")
    return key


def load_master_key(key_file: Path, *, create: bool) -> bytes:
    """The master key: ``$LIFECYCLE_MASTER_KEY`` when set, else the key file.

    Args:
        key_file: the key file to read (or to create).
        create: make a new random key file when there is none (a new store); otherwise a
            missing key file is an error.

    Raises:
        MasterKeyError: the variable or file is malformed, the file cannot be read or
            written, or it is missing and ``create`` is false.
    """
    from_env = os.environ.get(MASTER_KEY_ENV)
    if from_env is not None:
        return decode_master_key(from_env, f"${MASTER_KEY_ENV}")
    try:
        return decode_master_key(key_file.read_text(encoding="ascii"), str(key_file))
    except FileNotFoundError:
        if not create:
            raise MasterKeyError(
                f"master key file {key_file} not found (set ${MASTER_KEY_ENV} or "
                "--master-key-file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyError(f"cannot read master key file {key_file}: {exc}") from None
    return _create_key_file(key_file)


def _create_key_file(key_file: Path, key: bytes | None = None) -> bytes:
    key = AESGCM.generate_key(bit_length=8 * KEY_BYTES) if key is None else key
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: two engines starting on a new store at once must not each write a key
        # and one of them seal data under a key that the other then overwrites.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_master_key(key_file, create=False)
    except OSError as exc:
        raise MasterKeyError(f"cannot create master key file {key_file}: {exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(base64.b64encode(key).decode("ascii") + "\n")
        out.flush()
        os.fsync(out.fileno())
    return key


def save_master_key(key_file: Path, key: bytes) -> None:
    """Write ``key`` to a new key file (mode 0600; an existing file is left as it is,
    and must hold the same key).

    Raises:
        MasterKeyError: the file cannot be written, or holds another key.
    """
    if _create_key_file(key_file, key) != key:
        raise MasterKeyError(f"master key file {key_file} exists and holds another key")


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=_SALT,
                info=purpose).derive(master)


class PersonKeys:
    """The keys derived from one master key, and what they do.

    Args:
        master: the 32-byte master key.
    """

    def __init__(self, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise MasterKeyError(f"a master key has {KEY_BYTES} bytes, not {len(master)}")
        # HMAC states with their key already absorbed: each digest copies one (the
        # same digest as ``hmac.new(key, message, sha256)``, without re-padding the key
        # for each of the few digests every command needs).
        self._reference_mac = hmac.new(_derive(master, b"person reference"),
                                       digestmod=hashlib.sha256)
        self._wrapping = AESGCM(_derive(master, b"data key wrapping"))
        self._check_key = _derive(master, b"master key check")
        self._digest_mac = hmac.new(_derive(master, b"command digest"),
                                    digestmod=hashlib.sha256)

    def check_value(self) -> str:
        """A value kept in the store that tells whether a master key is the store's one
        (an HMAC: it reveals nothing of the key)."""
        return hmac.new(self._check_key, _CHECK_MESSAGE, hashlib.sha256).hexdigest()

    def verify(self, stored_check: str) -> None:
        """Refuse a master key that is not the one the store was sealed with.

        Raises:
            MasterKeyError: the check value differs.
        """
        if not hmac.compare_digest(self.check_value(), stored_check):
            raise MasterKeyError(
                "the master key is not this store's (its check value differs): "
                "nothing was written")

    def reference(self, person_id: str) -> str:
        """The keyed hash of a person id (64 hex digits): equal for equal ids, so the
        engine can compare ids and key a person's records by it, and of no use to
        anyone without the master key (unlike a plain hash, it cannot be brute-forced
        from the short ids of the contract)."""
        mac = self._reference_mac.copy()
        mac.update(person_id.encode("utf-8"))
        return mac.hexdigest()

    def command_digest(self, digest: str) -> str:
        """The keyed digest a sealed store's idempotency markers keep (ADR 4, ADR 28) in
        place of a command's SHA-256: a command names people, and a plain hash of it
        is found by trying the few values its fields can take. Equal for equal
        commands, so a command re-imported after its person was forgotten is still
        known as a duplicate."""
        mac = self._digest_mac.copy()
        mac.update(digest.encode("ascii"))
        return mac.hexdigest()

    @staticmethod
    def new_data_key() -> bytes:
        """A fresh random 256-bit data key for one person."""
        return AESGCM.generate_key(bit_length=8 * KEY_BYTES)

    def wrap(self, reference: str, data_key: bytes) -> bytes:
        """The data key of the person ``reference``, encrypted under the wrapping key
        (nonce ‖ ciphertext ‖ tag), bound to that person."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._wrapping.encrypt(nonce, data_key, reference.encode("ascii"))

    def unwrap(self, reference: str, wrapped: bytes) -> bytes:
        """The data key that :meth:`wrap` made.

        Raises:
            MasterKeyError: the wrapped key does not open under this master key (another
                store's key, or a damaged or swapped row).
        """
        try:
            return self._wrapping.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                          reference.encode("ascii"))
        except (InvalidTag, ValueError):
            raise MasterKeyError(
                "a person's data key does not open under this master key") from None


def _aad(reference: str, field: str) -> bytes:
    return f"{reference}\x00{field}".encode("ascii")


def data_cipher(data_key: bytes) -> AESGCM:
    """The AES-GCM cipher of a person's data key, to keep beside the key: making one
    costs more than sealing a short field with it (ADR 45)."""
    return AESGCM(data_key)


def seal(data_key: bytes | AESGCM, reference: str, field: str, value: Any) -> str:
    """One personal field, sealed: ``enc1:<reference>:`` and base64url(nonce ‖ AES-GCM
    ciphertext) of the value's JSON, bound to the person and the ``field`` name.

    The token names its person by reference (never by id), so that a reader opens any
    sealed field with the right data key without knowing which person each field of
    each event type belongs to.

    Args:
        data_key: the person's data key, or its cipher (:func:`data_cipher`).
        reference: the person's reference (:meth:`PersonKeys.reference`).
        field: the field's name (e.g. ``department``).
        value: any JSON value.
    """
    cipher = data_key if isinstance(data_key, AESGCM) else AESGCM(data_key)
    # A fresh random nonce for every encryption, as AES-GCM requires.
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, orjson.dumps(value), _aad(reference, field))
    body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
    return f"{SEALED_PREFIX}{reference}:{body}"


def is_sealed(value: Any) -> bool:
    """Whether a stored value is a sealed field."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


class SealedFieldError(Exception):
    """A sealed field is malformed, or does not open under the key given (damaged, or
    another person's or field's)."""


def sealed_reference(sealed: str) -> str:
    """The reference of the person whose key sealed a field.

    Raises:
        SealedFieldError: the text is not a sealed field.
    """
    reference, sep, _ = sealed[len(SEALED_PREFIX):].partition(":")
    if not is_sealed(sealed) or not sep or not reference:
        raise SealedFieldError("not a sealed field")
    return reference


def unseal(data_key: bytes | AESGCM, field: str, sealed: str) -> Any:
    """The value that :func:`seal` sealed (``data_key``: the key or its cipher).

    Raises:
        SealedFieldError: the text is not a sealed field, or does not open under this
            key for its person and this field.
    """
    reference = sealed_reference(sealed)
    body = sealed[len(SEALED_PREFIX) + len(reference) + 1:]
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
        cipher = data_key if isinstance(data_key, AESGCM) else AESGCM(data_key)
        plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(reference, field))
    except (InvalidTag, ValueError, binascii.Error):
        raise SealedFieldError(
            f"field {field!r} does not open under this person's key") from None
    return orjson.loads(plain)


def seal_fields(state: Mapping[str, Any], owners: Mapping[str, str],
                data_key_for: Callable[[str], bytes]) -> dict[str, Any]:
    """A stored event's state with its personal fields sealed.

    Args:
        state: the event's JSON state.
        owners: for each personal field of the event, the reference of the person it
            belongs to (fields absent from ``state`` are skipped).
        data_key_for: the data key of a reference (made when the person has none yet).

    Returns:
        A new state: every field of ``owners`` sealed, every other field as it was.
    """
    sealed = dict(state)
    for field, reference in owners.items():
        if field in sealed:
            sealed[field] = seal(data_key_for(reference), reference, field, sealed[field])
    return sealed


def open_fields(state: Mapping[str, Any],
                data_key_for: Callable[[str], bytes | None]) -> dict[str, Any]:
    """A stored event's state with every sealed field opened, or ``None`` where it
    cannot be: the person was forgotten (their key shredded) or the store was opened
    without the master key (``data_key_for`` gives None).

    Raises:
        SealedFieldError: a sealed field does not open under its person's key (damage,
            not erasure: a key that exists must open what it sealed).
    """
    opened = dict(state)
    for field, value in state.items():
        if is_sealed(value):
            key = data_key_for(sealed_reference(value))
            opened[field] = None if key is None else unseal(key, field, value)
    return opened
