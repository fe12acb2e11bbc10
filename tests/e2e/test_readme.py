"""The README's promises, checked as a new user would follow them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_opens_with_the_demo_and_test_commands() -> None:
    """The first code block holds exactly the two set-up commands."""
    first = re.search(r"```sh\n(.*?)```", README.read_text(), re.S)
    assert first is not None
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_the_embedding_example_runs_as_written(tmp_path: Path) -> None:
    """The Python example in the README runs unchanged against a fresh SQLite file."""
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    script = tmp_path / "example.py"
    script.write_text(block.group(1))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rule 4 [type]" in done.stdout
    assert (tmp_path / "pilot.db").exists()
