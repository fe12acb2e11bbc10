"""The commands of the HTTP load: shared by the load test (``test_http_load.py``) and the
P8 benchmark (``bench/p8_http.py``), so the two drive the service with the same work.

A programme ``P`` with a site ``S`` and a mentor ``M`` trained by 2025-01-08, then duos
of ten commands each: recruited, selected, matched to ``M``, activated, five contacts,
closed as completed.
"""

from __future__ import annotations

from typing import Any

MODULES = ("introduction", "communication", "interpersonal", "pedagogical", "organisational")
PER_DUO = 10
"""Commands of one duo."""


def setup_commands() -> list[dict[str, Any]]:
    """The programme, its site and its mentor, trained by 2025-01-08 (command ids
    ``setup-N``)."""
    commands: list[dict[str, Any]] = [
        {"type": "open_programme", "occurred_on": "2025-01-02", "programme_id": "P",
         "name": "Load pilot", "country": "DK"},
        {"type": "register_site", "occurred_on": "2025-01-02", "site_id": "S",
         "programme_id": "P", "name": "Prison", "setting": "adult"},
        {"type": "register_mentor", "occurred_on": "2025-01-03", "mentor_id": "M",
         "programme_id": "P", "site_id": "S", "department": "wing-A", "shifts": ["early"],
         "years_experience": 4},
    ]
    for day, module in enumerate(MODULES, start=4):
        commands.append({"type": "record_training", "occurred_on": f"2025-01-{day:02d}",
                         "mentor_id": "M", "module": module})
    for number, raw in enumerate(commands):
        raw["command_id"] = f"setup-{number}"
    return commands


def duo_commands(duo: str, mentee: str) -> list[dict[str, Any]]:
    """The :data:`PER_DUO` commands of the duo ``duo`` of mentee ``mentee``, without
    command ids (the caller names them)."""
    return [
        {"type": "recruit", "occurred_on": "2025-02-01", "duo_id": duo,
         "programme_id": "P", "site_id": "S", "mentee_id": mentee,
         "newcomer_kind": "transferred", "department": "wing-A", "shifts": ["early"]},
        {"type": "select", "occurred_on": "2025-02-02", "duo_id": duo, "consent": True},
        {"type": "match", "occurred_on": "2025-02-03", "duo_id": duo, "mentor_id": "M",
         "mentor_kind": "peer"},
        {"type": "activate", "occurred_on": "2025-02-04", "duo_id": duo},
        *({"type": "log_contact", "occurred_on": f"2025-02-{day:02d}", "duo_id": duo,
           "contact_id": f"K-{day}", "minutes": 30, "mode": "in_person",
           "functions": ["psychosocial"]} for day in range(5, 10)),
        {"type": "close", "occurred_on": "2025-03-01", "duo_id": duo,
         "reason": "completed"},
    ]
