"""The verdict on a history's signed chain heads (ADR 26), given its public key: every
signed head must be the chain's link at its position and its signature the key's; the
events after the last valid one are unsigned. The history is a store's or an export's
(both readers offer :class:`SignedSource`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lifecycle.adapters.audit import SignedHead, Verification
from lifecycle.adapters.signing import fingerprint, verifies


@runtime_checkable
class SignedSource(Protocol):
    """A history whose signed heads can be read (a store's or an export's)."""

    def signed_heads(self) -> Iterator[SignedHead]:
        """Every signed head in position order, with the chain's link at its position."""

    def events_after(self, position: int) -> tuple[int, int | None]:
        """The number of events after ``position``, and the first one's position."""


def check_signatures(source: SignedSource, key: Ed25519PublicKey,
                     chain: Verification) -> Verification:
    """The verdict on a history's signed heads, given the verdict on its chain.

    A broken chain is reported as it is. Then every signed head must be the chain's
    link at its position and its signature the key's; the first that is not is the
    problem. Events after the last signed head were written without the key (or the
    key's signatures were removed): they are reported as unsigned, from the first one.

    Args:
        source: the history's signed heads and events.
        key: the public key of the signing key.
        chain: :func:`lifecycle.adapters.audit.verify`'s verdict on the same history.
    """
    if not chain.ok:
        return chain
    signed, count = 0, 0
    for item in source.signed_heads():
        problem = None
        if item.link is None:
            problem = (f"the head signed at position {item.position} is no event's chain "
                       "link (a signature without its event)")
        elif item.head != item.link:
            problem = (f"the head signed at position {item.position} is not the chain's "
                       "link there (the history was rewritten after it was signed)")
        elif not verifies(key, item.position, item.head, item.signature):
            problem = (f"the signature of the head at position {item.position} does not "
                       "verify with this public key (forged, or made with another key)")
        if problem is not None:
            return replace(chain, ok=False, problem=problem, position=item.position)
        signed, count = item.position, count + 1
    unsigned, first = source.events_after(signed)
    if unsigned:
        since = f"after position {signed}" if count else "(no head is signed)"
        return replace(chain, ok=False, position=first,
                       problem=f"{unsigned} events {since} are not signed, from position "
                               f"{first} on (written without the signing key)")
    return replace(chain, signed={"position": signed or None, "signatures": count,
                                  "key": fingerprint(key)})
