"""The layers' import rules (ADR 16), as import-linter's contracts in pyproject.toml
(ADR 17): the project keeps them, and a copy of it with one forbidden import added
breaks the very rule that import breaks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

DOMAIN = "The domain imports nothing else of the project"
ENTRYPOINTS = "Nothing imports the entry points (but python -m lifecycle)"
PROJECTIONS = "The projections import only the domain and the adapters"
APPLICATION = "The application imports neither the entry points nor the projections"
LAYERS = "Layers, outside in (no layer imports one above it)"
CYCLES = "No import cycles between the modules of a package"
CONTRACTS = (DOMAIN, ENTRYPOINTS, PROJECTIONS, APPLICATION, LAYERS, CYCLES)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the project in ``root`` (its ``src`` first on the path)."""
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(command), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def verdicts(output: str) -> dict[str, str]:
    """Each contract's name and its verdict (KEPT or BROKEN) as the report lists them."""
    found = {}
    for line in output.splitlines():
        for name in CONTRACTS:
            if line.startswith(f"{name} ") and line.split()[-1] in ("KEPT", "BROKEN"):
                found[name] = line.split()[-1]
    return found


def test_the_project_keeps_every_import_rule() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(done.stdout) == dict.fromkeys(CONTRACTS, "KEPT")


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("lifecycle/domain/vocabulary.py", "from lifecycle.adapters import store",
     {DOMAIN, LAYERS, CYCLES}),
    # Indirect imports count: the application, importing the domain, would import it too.
    ("lifecycle/domain/duo.py", "import projections.views", {DOMAIN, APPLICATION, LAYERS}),
    # The application imports the store module too (the sealing of personal data).
    ("lifecycle/adapters/store.py", "from lifecycle.entrypoints import tables",
     {ENTRYPOINTS, PROJECTIONS, APPLICATION, LAYERS, CYCLES}),
    ("projections/report.py", "from lifecycle.application import engine",
     {PROJECTIONS, LAYERS}),
    ("projections/facade.py", "from lifecycle.bootstrap import open_engine",
     {PROJECTIONS, LAYERS}),
    ("lifecycle/application/importer.py", "from projections import facade",
     {APPLICATION, LAYERS}),
    ("lifecycle/adapters/persistence.py", "from lifecycle.application import commands",
     {PROJECTIONS, LAYERS, CYCLES}),
    ("projections/split.py", "from projections import rebuild", {CYCLES}),
], ids=["domain-to-adapters", "domain-to-projections", "adapters-to-entrypoints",
        "projections-to-application", "projections-to-bootstrap",
        "application-to-projections", "adapters-to-application", "cycle-in-projections"])
def test_a_forbidden_import_breaks_its_rule(tmp_path: Path, module: str, line: str,
                                            broken: set[str]) -> None:
    shutil.copytree(SRC, tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info",
                                                                         "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "src" / module).open("a") as handle:
        handle.write(f"\n{line}  # noqa: E402\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    found = verdicts(done.stdout)
    assert {name for name, verdict in found.items() if verdict == "BROKEN"} == broken, \
        done.stdout
    assert set(found) == set(CONTRACTS)
