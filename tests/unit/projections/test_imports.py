"""What a process that only folds or lists the views loads: not SciPy, which only the
report's comparisons use (it takes about 65 MB and 0.9 s of CPU to import, in the
rebuild's calling process and in each of its worker interpreters)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"


def loaded_after(module: str) -> set[str]:
    """The top-level packages a fresh isolated interpreter holds after importing
    ``module`` (as a rebuild worker starts: ``python -I``)."""
    code = (f"import sys; sys.path.insert(0, {str(SRC)!r}); import {module}; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True,
                          text=True, timeout=120, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize("module", ["projections.rebuild", "projections.facade",
                                    "projections.coordinator"])
def test_folding_and_listing_do_not_load_scipy(module: str) -> None:
    assert "scipy" not in loaded_after(module)


def test_a_comparison_loads_scipy_when_it_is_computed() -> None:
    code = (f"import sys; sys.path.insert(0, {str(SRC)!r}); "
            "from projections.comparisons import signed_rank; "
            "print(signed_rank([1, 2, -1, 3, 4])['p_value'] is not None, 'scipy' in sys.modules)")
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split() == ["True", "True"]
