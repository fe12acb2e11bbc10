"""Signed chain heads (ADR 26): an Ed25519 key held outside the database signs the
chain's head at every commit, so that whoever can write to the database but does not
hold the key cannot add an event that verifies as signed.

The private key comes from the environment of the process that writes: the variable
``LIFECYCLE_SIGNING_KEY`` (the key itself, PEM or the base64 of its 32 raw bytes) or
``LIFECYCLE_SIGNING_KEY_FILE`` (the path of a PEM file readable by its owner only).
``lifecycle audit keygen --out PREFIX`` makes a pair: ``PREFIX.key`` (private, mode
0600) and ``PREFIX.pub`` (public, for auditors). What is signed is the head link and
its position, under a fixed label (:func:`message`), so a signature cannot be taken for
anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

KEY_VARIABLE = "LIFECYCLE_SIGNING_KEY"
KEY_FILE_VARIABLE = "LIFECYCLE_SIGNING_KEY_FILE"
SIGNATURES_TABLE = "chain_signatures"
LABEL = b"lifecycle chain head v1\x00"
"""Prefixed to what is signed: a signature of the engine's is of a chain head only."""


class SigningError(Exception):
    """A signing or public key that cannot be used (missing, unreadable, not Ed25519,
    or a private key file that others may read)."""


def message(position: int, head: bytes) -> bytes:
    """The bytes signed for the chain's head ``head`` at log position ``position``."""
    return LABEL + struct.pack(">q", position) + head


class Signer:
    """Signs chain heads with one Ed25519 private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()

    def sign(self, position: int, head: bytes) -> bytes:
        """The 64-byte signature of the head ``head`` at ``position``."""
        return self._key.sign(message(position, head))


def signer_from_environment(environ: Mapping[str, str] | None = None) -> Signer | None:
    """The signer the environment configures, or None when it configures none.

    Raises:
        SigningError: both variables are set, the key cannot be read or is not an
            Ed25519 private key, or its file may be read by others than its owner.
    """
    env = os.environ if environ is None else environ
    inline, file = env.get(KEY_VARIABLE), env.get(KEY_FILE_VARIABLE)
    if inline and file:
        raise SigningError(f"set {KEY_VARIABLE} or {KEY_FILE_VARIABLE}, not both")
    if inline:
        return Signer(_private_key(inline.encode(), KEY_VARIABLE))
    if file:
        path = Path(file)
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"{KEY_FILE_VARIABLE}: cannot read '{file}': "
                               f"{exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningError(f"{KEY_FILE_VARIABLE}: '{file}' may be read by others "
                               f"(mode {stat.S_IMODE(mode):04o}); make it 0600")
        return Signer(_private_key(data, f"{KEY_FILE_VARIABLE} '{file}'"))
    return None


def _private_key(data: bytes, where: str) -> Ed25519PrivateKey:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(
                base64.b64decode(data.strip(), validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise SigningError(f"{where}: not an Ed25519 private key (PEM, or the base64 of "
                           "its 32 bytes)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{where}: not an Ed25519 private key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file (as ``audit keygen`` writes ``PREFIX.pub``).

    Raises:
        SigningError: the file cannot be read or holds no Ed25519 public key.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read public key '{path}': {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"'{path}' holds no Ed25519 public key (PEM)")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of the SHA-256 of its raw
    32 bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verifies(key: Ed25519PublicKey, position: int, head: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the key's signature of ``head`` at ``position``."""
    try:
        key.verify(signature, message(position, head))
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class KeyPair:
    """The files ``audit keygen`` wrote."""

    private: Path
    public: Path
    fingerprint: str


def generate(prefix: str | Path) -> KeyPair:
    """Write a new pair: ``PREFIX.key`` (the private key, PKCS 8 PEM, created with mode
    0600) and ``PREFIX.pub`` (the public key, PEM). Never overwrites a file.

    Raises:
        SigningError: a file of that name exists, or cannot be written.
    """
    private, public = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for path in (private, public):
        if path.exists():
            raise SigningError(f"'{path}' exists already: keygen never overwrites a key")
    key = Ed25519PrivateKey.generate()
    secret = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    shown = key.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        # Created with its final mode: the private key is never readable by others,
        # not even for a moment between writing and a chmod.
        descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secret)
        os.chmod(private, 0o600)  # whatever the umask did
        with public.open("xb") as handle:
            handle.write(shown)
    except OSError as exc:
        raise SigningError(f"cannot write the key pair '{prefix}': {exc.strerror}") from None
    return KeyPair(private, public, fingerprint(key.public_key()))
