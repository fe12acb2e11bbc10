"""``docs/interface.md`` says what the engine does: its command tables equal the JSON
Schema of the command models (both ways), and every subcommand, option, report key,
``duos`` column, duo event and domain error of the code is documented.

The command tables are machine-read. Under ``## Commands``, each ``### `name```
section holds one table ``| field | type | required | values |``: nested object fields
are written ``object.field``; *type* is one of :data:`DOC_TYPES`; *required* is ``yes``
or ``no (default `JSON`)``; for an ``enum`` or ``list of enum`` the backticked words of
*values* are the value set, in order, and for an ``int`` *values* begins with its range
(``1–1440`` or ``≥ 0``). A section whose heading says "not implemented yet" describes a
planned command: it must not be in the models yet (when it is, drop the mark and the
section is compared like the others).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import pytest

from lifecycle.application import commands
from lifecycle.domain import errors
from lifecycle.domain.base import DomainEvent
from lifecycle.domain.duo import Duo
from lifecycle.domain.vocabulary import ID_PATTERN, INT64_MAX
from projections.fold import initial
from projections.listing import COLUMNS
from projections.report import build_report, contact_minutes

DOC = Path(__file__).resolve().parents[3] / "docs" / "interface.md"
PLANNED = "not implemented yet"
COMMON_HEADING = "Fields every command has"
DOC_TYPES = ("id", "code", "text", "country code", "date", "int", "bool", "enum",
             "list of code", "list of enum", "object", "date or enum")


@dataclass(frozen=True)
class Field:
    """One field as documented, or as the schema says (the same shape for both)."""

    kind: str
    """``id`` (also for ``code``), ``text``, ``country code``, ``date``, ``int``,
    ``bool``, ``enum``, ``list of code``, ``list of enum``, ``object``, or two of them
    joined by ``or`` (a value of either form, e.g. ``date or enum``)."""
    required: bool
    default: Any = None
    values: tuple[str, ...] | None = None
    """The value set of an enum (or of a list's items); None otherwise."""
    int_range: tuple[int, int | None] | None = None
    """(minimum, maximum or None when unbounded) of an int."""


# ---------------------------------------------------------------------- the document
def doc_text() -> str:
    """The document without its fenced code blocks: examples do not count as
    documentation (and their lines never pass for headings)."""
    return re.sub(r"^```.*?^```\n", "", DOC.read_text(encoding="utf-8"), flags=re.M | re.S)


def sections(text: str, level: int) -> dict[str, str]:
    """Each heading of ``level`` (its text) with the body up to the next heading of that
    level or higher."""
    found: dict[str, str] = {}
    pattern = rf"^{'#' * level} ([^\n]+)\n(.*?)(?=^#{{1,{level}}} |\Z)"
    for match in re.finditer(pattern, text, re.M | re.S):
        assert match.group(1) not in found, f"two sections named {match.group(1)!r}"
        found[match.group(1)] = match.group(2)
    return found


def area(name: str) -> str:
    """The body of the ``## name`` section."""
    found = sections(doc_text(), 2)
    assert name in found, f"docs/interface.md has no '## {name}' section"
    return found[name]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _range(values: str, where: str) -> tuple[int, int | None]:
    bounded = re.match(r"(\d+)–(\d+)", values)
    if bounded:
        return int(bounded.group(1)), int(bounded.group(2))
    at_least = re.match(r"≥ (\d+)", values)
    assert at_least, f"{where}: an int's values must begin with its range (1–5 or ≥ 0)"
    return int(at_least.group(1)), None


def documented_fields(body: str, where: str) -> dict[str, Field]:
    """The rows of the section's field table(s)."""
    fields: dict[str, Field] = {}
    for line in body.splitlines():
        cells = _cells(line) if line.startswith("| `") else []
        if not cells:
            continue
        assert len(cells) == 4, f"{where}: a field row has 4 cells: {line}"
        name, kind, required, values = cells
        name = name.strip("`")
        here = f"{where}, field {name}"
        assert kind in DOC_TYPES, f"{here}: unknown type {kind!r} (one of {DOC_TYPES})"
        assert required.split()[0] in ("yes", "no"), f"{here}: required is yes or no (...)"
        default = None
        stated = re.search(r"default `([^`]+)`", required)
        if stated:
            default = json.loads(stated.group(1))
        enum_values = (tuple(re.findall(r"`([^`]+)`", values)) if kind.endswith("enum")
                       else None)
        assert enum_values is None or enum_values, f"{here}: an enum lists its values"
        assert name not in fields, f"{here}: documented twice"
        fields[name] = Field("id" if kind == "code" else kind, required.startswith("yes"),
                             default, enum_values,
                             _range(values, here) if kind == "int" else None)
    return fields


@dataclass(frozen=True)
class CommandDoc:
    name: str
    planned: bool
    fields: dict[str, Field]


def command_docs() -> dict[str, CommandDoc]:
    """Every ``### `name``` section of ``## Commands``."""
    found: dict[str, CommandDoc] = {}
    for heading, body in sections(area("Commands"), 3).items():
        match = re.match(r"`(\w+)`(.*)$", heading)
        if match is None:
            continue
        name, rest = match.groups()
        found[name] = CommandDoc(name, PLANNED in rest, documented_fields(body, name))
    return found


# ---------------------------------------------------------------------- the schema
@cache
def schema() -> dict[str, Any]:
    return commands.json_schema()


def _resolve(prop: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    return schema()["$defs"][ref.rsplit("/", 1)[1]] if ref else prop


def _kind(prop: dict[str, Any], where: str) -> tuple[str, tuple[str, ...] | None]:
    prop = _resolve(prop)
    if "const" in prop or "enum" in prop:
        return "enum", tuple(prop["enum"]) if "enum" in prop else None
    kind = prop.get("type")
    if kind == "string":
        if prop.get("format") == "date":
            return "date", None
        if prop.get("pattern") == ID_PATTERN:
            return "id", None
        if prop.get("pattern") == "^[A-Z]{2}$":
            return "country code", None
        assert "pattern" not in prop and prop.get("maxLength") == 200, where
        return "text", None
    if kind == "integer":
        return "int", None
    if kind == "boolean":
        return "bool", None
    if kind == "array":
        item, values = _kind(prop["items"], where)
        return f"list of {'code' if item == 'id' else item}", values
    if kind == "object":
        return "object", None
    raise AssertionError(f"{where}: no documented type for {prop}")


def schema_fields(definition: dict[str, Any], prefix: str = "") -> dict[str, Field]:
    """A model's fields as the schema describes them (nested objects flattened)."""
    found: dict[str, Field] = {}
    required = set(definition.get("required", ()))
    for name, raw in definition["properties"].items():
        options = [o for o in raw.get("anyOf", [raw]) if o.get("type") != "null"]
        prop = {**_resolve(options[0]), **{k: v for k, v in raw.items() if k != "anyOf"}}
        kinds = [_kind({"type": "string", **o} if "format" in o else o, prefix + name)
                 for o in options]
        kind = " or ".join(k for k, _ in kinds)
        values = next((v for _, v in kinds if v is not None), None)
        int_range = None
        if kind == "int":
            top = prop.get("maximum")
            int_range = (prop["minimum"], None if top in (None, INT64_MAX) else top)
        found[prefix + name] = Field(kind, name in required, prop.get("default"), values,
                                     int_range)
        if kind == "object":
            found.update(schema_fields(_resolve(options[0]), f"{prefix}{name}."))
    return found


def model_fields() -> dict[str, dict[str, Field]]:
    """Every command type's own fields (without the common ones)."""
    mapping = schema()["discriminator"]["mapping"]
    return {kind: {name: field for name, field in schema_fields(_resolve({"$ref": ref})).items()
                   if name not in COMMON}
            for kind, ref in mapping.items()}


COMMON = ("type", "occurred_on", "command_id")


def _comparable(field: Field, documented: Field) -> Field:
    """The schema's field as the documentation can state it: the default of an object
    may be described in words instead."""
    default = field.default
    if isinstance(default, dict) and documented.default is None:
        default = None
    return Field(field.kind, field.required, default, field.values, field.int_range)


# ---------------------------------------------------------------------- tests: commands
def test_every_command_model_is_documented_and_every_documented_command_is_a_model() -> None:
    documented = {n for n, d in command_docs().items() if not d.planned}
    assert documented == set(model_fields()), (
        "commands in the models but not in docs/interface.md: "
        f"{sorted(set(model_fields()) - documented)}; documented but not in the models: "
        f"{sorted(documented - set(model_fields()))}")


def test_a_command_marked_not_implemented_is_not_in_the_models() -> None:
    # Every command of contract v2 is built now (forget was the last); a heading still
    # marked as planned for a command that exists fails here.
    planned = {n for n, d in command_docs().items() if d.planned}
    implemented = planned & set(model_fields())
    assert not implemented, (f"{sorted(implemented)} exist now: remove '{PLANNED}' from "
                             "their headings in docs/interface.md")


@pytest.mark.parametrize("kind", sorted(commands.COMMANDS))
def test_the_documented_fields_equal_the_schema(kind: str) -> None:
    doc = command_docs()[kind]
    actual = model_fields()[kind]
    assert set(doc.fields) == set(actual), (
        f"{kind}: fields in the model but not documented: "
        f"{sorted(set(actual) - set(doc.fields))}; documented but not in the model: "
        f"{sorted(set(doc.fields) - set(actual))}")
    for name, documented in doc.fields.items():
        assert _comparable(actual[name], documented) == documented, f"{kind}.{name}"


def test_the_fields_every_command_has_are_documented_once() -> None:
    common = documented_fields(sections(area("Commands"), 3)[COMMON_HEADING], "common")
    assert list(common) == list(COMMON)
    for model in commands.COMMANDS.values():
        definition = schema_fields(model.model_json_schema(mode="validation"))
        for name in COMMON:
            # The discriminator makes `type` required, although the model has a default.
            required = definition[name].required or name == "type"
            assert (definition[name].kind, required) == (common[name].kind,
                                                         common[name].required), name
        assert definition["command_id"].default == common["command_id"].default
    assert schema()["discriminator"]["propertyName"] == "type"


def test_the_table_parser_reads_types_defaults_value_sets_and_ranges() -> None:
    """The reader of the tables (so a broken reader cannot make the comparison vacuous)."""
    body = ("| `a` | enum | yes | `x`, `y`, `z` |\n"
            "| `b` | int | no (default `5`) | 1–9 |\n"
            "| `c` | list of code | no (default `[]`) | |\n")
    fields = documented_fields(body, "sample")
    assert fields == {
        "a": Field("enum", True, None, ("x", "y", "z"), None),
        "b": Field("int", False, 5, None, (1, 9)),
        "c": Field("list of code", False, [], None, None),
    }
    # ... and a field the schema adds shows up as a difference.
    assert set(model_fields()["close"]) == {"duo_id", "reason", "initiated_by",
                                            "exit_interview"}


# ---------------------------------------------------------------------- tests: the CLI
def root_group() -> click.Group:
    """The ``lifecycle`` console script's click group (found through its entry point)."""
    [script] = entry_points(group="console_scripts", name="lifecycle")
    module = import_module(script.module)
    groups = [v for v in vars(module).values() if isinstance(v, click.Group)]
    assert groups, f"no click group in {script.module}"
    return groups[0]


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()
                  ) -> dict[tuple[str, ...], click.Command]:
    """Every subcommand (groups and leaves) by its path, e.g. ``("audit", "verify")``."""
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in group.commands.items():
        found[(*prefix, name)] = command
        if isinstance(command, click.Group):
            found.update(command_paths(command, (*prefix, name)))
    return found


def cli_sections() -> dict[tuple[str, ...], str]:
    """Sections (any level) whose heading begins with a backticked ``lifecycle ...``."""
    found: dict[tuple[str, ...], str] = {}
    text = doc_text()
    for level in (3, 4):
        for heading, body in sections(text, level).items():
            match = re.match(r"`lifecycle ([a-z -]+)`", heading)
            if match:
                found[tuple(match.group(1).split())] = body
    return found


def _mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_every_subcommand_and_its_options_and_arguments_are_documented() -> None:
    documented = cli_sections()
    leaves = {path: command for path, command in command_paths(root_group()).items()
              if not isinstance(command, click.Group)}
    missing = [" ".join(path) for path in leaves if path not in documented]
    assert not missing, f"subcommands without a '### `lifecycle ...`' section: {missing}"
    for path, command in leaves.items():
        body = documented[path]
        for param in command.params:
            names = ([o for o in param.opts + param.secondary_opts if o.startswith("--")]
                     if isinstance(param, click.Option) else [param.human_readable_name])
            assert all(_mentions(body, name) for name in names), (
                f"lifecycle {' '.join(path)}: {names} not documented in its section")


def test_every_documented_subcommand_exists() -> None:
    known = command_paths(root_group())
    unknown = [" ".join(path) for path in cli_sections() if path not in known]
    assert not unknown, f"docs/interface.md documents subcommands that do not exist: {unknown}"


def test_no_help_text_sends_the_reader_outside_the_repository() -> None:
    """Help speaks in the project's own words: it may point into docs/interface.md, never
    to the specification the engine was built to (which is not in the repository)."""
    group = root_group()
    texts = [(("lifecycle",), group.help or "")]
    texts += [(("lifecycle", "--" + str(p.name)), getattr(p, "help", None) or "")
              for p in group.params]
    for path, command in command_paths(group).items():
        texts.append((path, command.help or ""))
        texts += [((*path, str(param.name)), getattr(param, "help", None) or "")
                  for param in command.params]
    outside = [" ".join(where) for where, text in texts if re.search(r"CONTRACT|§", text)]
    assert not outside, f"help texts citing the outside specification: {outside}"


def test_the_options_of_every_subcommand_are_documented() -> None:
    body = sections(area("Command line"), 3)["Options of every subcommand"]
    for param in root_group().params:
        assert isinstance(param, click.Option)
        for option in param.opts + param.secondary_opts:
            assert _mentions(body, option), option
    assert _mentions(body, "--version") and _mentions(body, "--help")


# ---------------------------------------------------------------------- tests: outputs
def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def _backticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\s]+)`", text))


def test_every_report_key_is_documented() -> None:
    day = date(2025, 9, 30)
    keys = _keys(build_report(initial(), day)) | _keys(contact_minutes(initial(), day))
    keys |= {"by", "groups"}  # the breakdown's own keys (its groups are report sections)
    missing = sorted(keys - _backticked(area("The report")))
    assert not missing, f"report keys not defined under '## The report': {missing}"


def test_every_duos_column_is_documented() -> None:
    body = cli_sections()[("duos",)]
    missing = [column for column in COLUMNS if f"`{column}`" not in body]
    assert not missing, f"duos columns not documented: {missing}"


def test_every_duo_event_type_is_documented_in_history() -> None:
    events = [name for name, value in vars(Duo).items()
              if isinstance(value, type) and issubclass(value, DomainEvent)]
    assert "Recruited" in events
    body = cli_sections()[("history",)]
    assert [e for e in events if f"`{e}`" not in body] == []


def test_every_domain_error_and_its_rule_is_documented() -> None:
    body = area("Embedding the engine")
    kinds = [value for value in vars(errors).values() if isinstance(value, type)
             and issubclass(value, errors.DomainError) and value is not errors.DomainError]
    assert len(kinds) > 10
    for kind in kinds:
        assert re.search(rf"`{kind.__name__}`[^(]*\({kind.rule}\)", body), (
            f"{kind.__name__} (rule {kind.rule}) is not documented with its rule")


def test_the_rules_are_numbered_one_to_seventeen_in_order() -> None:
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", area("Rules"), re.M)]
    assert numbers == list(range(1, 18))
