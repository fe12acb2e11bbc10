"""The duo's lifecycle: its states and the one transition table.

The table is given to a single ``transitions.Machine`` built once at import, with
``model=None`` and ``auto_transitions=False``. The machine is only asked whether a
trigger is allowed from a state; it is never attached to an aggregate (snapshots copy
an aggregate's ``__dict__``, and replay must not consult it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from transitions import Machine


class DuoState(StrEnum):
    RECRUITED = "recruited"
    SELECTED = "selected"
    MATCHED = "matched"
    ACTIVE = "active"
    CLOSED = "closed"


_OPEN: Final = [DuoState.RECRUITED, DuoState.SELECTED, DuoState.MATCHED, DuoState.ACTIVE]

TRANSITIONS: Final[tuple[tuple[str, tuple[DuoState, ...], DuoState], ...]] = (
    ("select", (DuoState.RECRUITED,), DuoState.SELECTED),
    ("match", (DuoState.SELECTED,), DuoState.MATCHED),
    ("activate", (DuoState.MATCHED,), DuoState.ACTIVE),
    ("close", tuple(_OPEN), DuoState.CLOSED),
)
"""(trigger, sources, destination): the whole lifecycle. A duo is born ``recruited``."""

INITIAL_STATE: Final = DuoState.RECRUITED
TRIGGERS: Final = tuple(t for t, _, _ in TRANSITIONS)


def _machine_transitions() -> list[dict[str, Any]]:
    return [
        {"trigger": trigger, "source": [s.value for s in sources], "dest": dest.value}
        for trigger, sources, dest in TRANSITIONS
    ]


_MACHINE: Final = Machine(
    model=None,
    states=[s.value for s in DuoState],
    transitions=_machine_transitions(),
    initial=None,
    auto_transitions=False,
)


def destination(trigger: str, state: DuoState) -> DuoState | None:
    """The state ``trigger`` leads to from ``state``, or None when not allowed."""
    found = _MACHINE.get_transitions(trigger=trigger, source=state.value)
    if not found:
        return None
    return DuoState(str(found[0].dest))


def allowed_triggers(state: DuoState) -> list[str]:
    """The triggers allowed from ``state``, in table order."""
    return [t for t in TRIGGERS if destination(t, state) is not None]


def mermaid() -> str:
    """The state diagram as Mermaid, generated from the same table."""
    from transitions.extensions.diagrams import GraphMachine

    class _Diagram:
        """A throwaway model: graphs are drawn per model, never for an aggregate."""

    drawing = GraphMachine(
        model=_Diagram(),
        states=[s.value for s in DuoState],
        transitions=_machine_transitions(),
        initial=INITIAL_STATE.value,
        auto_transitions=False,
        graph_engine="mermaid",
        title="Duo lifecycle",
        show_state_attributes=False,
    )
    text: str = drawing.model.get_graph().draw(None)  # type: ignore[attr-defined]
    # Drop the "current state" styling: the diagram shows the table, not a duo.
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith(("Class ", "classDef"))]
    return "\n".join(ln.rstrip() for ln in lines).strip() + "\n"
