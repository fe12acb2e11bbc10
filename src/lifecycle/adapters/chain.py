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
