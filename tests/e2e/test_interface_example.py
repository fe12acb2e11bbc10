"""The Python example of ``docs/interface.md`` ("Embedding the engine") runs as written
and prints what its comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "interface.md"


def test_the_embedding_example_runs_as_written(tmp_path: Path) -> None:
    [block] = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    script = tmp_path / "example.py"
    script.write_text(block, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "applied", "4 type",
        "rule 4 [type]: 'activate' is not allowed for duo 'ie.duo-01' in state 'recruited' "
        "(allowed: select, close)",
        "1"]
    assert (tmp_path / "pilot.db").exists()
