"""``lifecycle schema`` and ``lifecycle states``: what front ends and the docs rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lifecycle.application.commands import COMMANDS
from lifecycle.domain.states import mermaid

DIAGRAM = Path(__file__).resolve().parents[2] / "docs" / "states.mmd"


def test_schema_prints_a_json_schema_of_one_command_line(cli: Any, worked_example: Path
                                                        ) -> None:
    done = cli("schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    mapping = schema["discriminator"]["mapping"]
    assert len(schema["oneOf"]) == len(mapping) == len(COMMANDS)
    assert set(mapping) == set(COMMANDS) >= {"open_programme", "close", "correct"}
    for kind, ref in mapping.items():
        name = ref.rsplit("/", 1)[1]
        definition = schema["$defs"][name]
        assert definition["type"] == "object"
        assert definition["additionalProperties"] is False
        assert definition["properties"]["type"]["const"] == kind
        assert {"type", "occurred_on"} <= set(definition["properties"])
        assert "occurred_on" in definition["required"]
    kinds_used = {json.loads(line)["type"] for line in worked_example.read_text().splitlines()}
    assert kinds_used <= set(mapping)


def test_states_prints_the_committed_mermaid_diagram(cli: Any) -> None:
    done = cli("states")
    assert done.returncode == 0, done.stderr
    assert done.stdout == mermaid() == DIAGRAM.read_text(encoding="utf-8")
    assert "stateDiagram-v2" in done.stdout
