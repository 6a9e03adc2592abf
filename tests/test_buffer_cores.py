"""The buffer has two cores, C and pure Python, with one specification.

The rest of the suite tests the core in use (the C one wherever it was
built); here the buffer's specification runs again on the pure-Python core,
in a child pytest, as it would run where no C compiler was available.
"""

from __future__ import annotations

import importlib.util
import os
import re
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


# The specification's tests that may skip, by their stated reason: each needs
# a tool that a machine may lack. Any other skip fails the run below.
EXPECTED_SKIP_REASONS = {"strace is not installed"}  # test_buffer_realtime.py


def summary_count(outcome: str, line: str) -> int:
    """The count of *outcome* ("passed", ...) in pytest's summary *line*, or 0."""
    found = re.search(rf"(\d+) {outcome}", line)
    return 0 if found is None else int(found.group(1))


# A guard against a hang, not a speed check: the child run takes about a
# minute on an idle 2-core machine and over four minutes with both cores busy.
CHILD_TIMEOUT = 1_200


@pytest.mark.slow
@pytest.mark.timeout(CHILD_TIMEOUT + 60)
def test_the_pure_python_core_meets_the_same_specification() -> None:
    env = {**os.environ, "MIDIBUFFER_PURE_PYTHON": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *SPECIFICATION],
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert "midibuffer core: python" in result.stdout
    assert result.returncode == 0, result.stdout[-3000:]
    # Every test collected ran and passed, except the ones that skip for an
    # expected reason: a mass skip cannot pass.
    collected = re.search(r"^collected (\d+) items?", result.stdout, re.MULTILINE)
    assert collected is not None, result.stdout[-3000:]
    skips = re.findall(r"^SKIPPED \[(\d+)\] \S+: (.*)$", result.stdout, re.MULTILINE)
    unexpected = sorted({reason for _, reason in skips} - EXPECTED_SKIP_REASONS)
    assert not unexpected, f"unexpected skips: {unexpected}"
    skipped = sum(int(count) for count, _ in skips)
    summary = result.stdout.strip().splitlines()[-1]
    assert summary_count("skipped", summary) == skipped, summary
    assert summary_count("passed", summary) >= int(collected.group(1)) - skipped, summary
