"""The buffer has two cores, C and pure Python, with one specification.

The rest of the suite tests the core in use (the C one wherever it was
built); here the buffer's specification runs again on the pure-Python core,
in a child pytest, as it would run where no C compiler was available.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from midibuffer import buffer

TESTS = Path(__file__).resolve().parent
SPECIFICATION = [
    "test_buffer.py",
    "test_buffer_model.py",
    "test_buffer_realtime.py",
    "test_buffer_threads.py",
]


def test_the_c_core_is_used_wherever_it_was_built() -> None:
    if importlib.util.find_spec("midibuffer.buffer._ring") is None:
        pytest.skip("the C core was not built here (no C compiler at install time?)")
    expected = "python" if os.environ.get("MIDIBUFFER_PURE_PYTHON") == "1" else "c"
    assert buffer.CORE == expected  # noqa: SIM300 - the value under test on the left


@pytest.mark.slow
def test_the_pure_python_core_meets_the_same_specification() -> None:
    env = {**os.environ, "MIDIBUFFER_PURE_PYTHON": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *SPECIFICATION],
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert "midibuffer core: python" in result.stdout
    assert result.returncode == 0, result.stdout[-3000:]
