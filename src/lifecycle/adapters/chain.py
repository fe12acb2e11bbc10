"""The audit hash chain: one SHA-256 link per stored event, in log order.

``link(n) = SHA-256(link(n-1) ‖ position ‖ version ‖ len(originator_id) ‖ len(topic) ‖
originator_id ‖ topic ‖ state)`` over the bytes exactly as stored. Fixed-width numbers
(big-endian int64, int64, uint32, uint32) come first and the state last, so no two
different rows can hash alike by shifting bytes between fields. The first event's
predecessor is 32 zero bytes. Pure functions only: the recorders and the verifier use
them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

GENESIS = bytes(32)
"""The link before the first event."""

HEADER = struct.Struct(">qqII")


def link(previous: bytes, position: int, originator_id: str, version: int, topic: str,
         state: bytes) -> bytes:
    """The chain link of one stored event."""
    return link_bytes(previous, position, originator_id.encode(), version, topic.encode(),
                      state)


def link_bytes(previous: bytes, position: int, originator_id: bytes, version: int,
               topic: bytes, state: bytes) -> bytes:
    """:func:`link` over the UTF-8 bytes of the id and topic (as an auditor reads them)."""
    return hashlib.sha256(b"".join(
        (previous, HEADER.pack(position, version, len(originator_id), len(topic)),
         originator_id, topic, state)
    )).digest()


def link_each(previous: bytes, rows: Iterable[tuple[int, str, int, str, bytes]]
              ) -> list[tuple[int, bytes]]:
    """The links ``(position, link)`` of consecutive events given as ``(position,
    originator_id, version, topic, state)``, after the link ``previous``: :func:`link`
    in a loop, without a call per event (it is on the path of every import)."""
    sha256, pack, join = hashlib.sha256, HEADER.pack, b"".join
    topics: dict[str, bytes] = {}
    out = []
    for position, originator_id, version, topic, state in rows:
        oid = originator_id.encode()
        name = topics.get(topic)
        if name is None:
            name = topics[topic] = topic.encode()
        previous = sha256(join((previous, pack(position, version, len(oid), len(name)),
                                oid, name, state))).digest()
        out.append((position, previous))
    return out
