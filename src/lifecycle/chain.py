"""The audit hash chain: one SHA-256 link per stored event, in log order.

``link(n) = SHA-256(link(n-1) ‖ position ‖ originator_id ‖ version ‖ topic ‖ state)``
over the bytes exactly as stored (variable-length parts are length-prefixed, so no two
different rows can hash alike by shifting bytes between fields). The first event's
predecessor is 32 zero bytes. Pure functions only: the recorders and the verifier use
them.
"""

from __future__ import annotations

import hashlib
import struct

GENESIS = bytes(32)
"""The link before the first event."""

_HEAD = struct.Struct(">qq")
_LEN = struct.Struct(">I")


def link(previous: bytes, position: int, originator_id: str, version: int, topic: str,
         state: bytes) -> bytes:
    """The chain link of one stored event."""
    oid = originator_id.encode()
    top = topic.encode()
    digest = hashlib.sha256(previous)
    digest.update(_HEAD.pack(position, version))
    digest.update(_LEN.pack(len(oid)))
    digest.update(oid)
    digest.update(_LEN.pack(len(top)))
    digest.update(top)
    digest.update(_LEN.pack(len(state)))
    digest.update(state)
    return digest.digest()
