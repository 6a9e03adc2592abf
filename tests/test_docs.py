"""The documentation runs: every docstring example (doctest) and every Python
block of README.md."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import itertools
import pkgutil
import re
from pathlib import Path

import pytest

import midibuffer

README = Path(__file__).resolve().parent.parent / "README.md"
MODULES = sorted(
    info.name for info in pkgutil.walk_packages(midibuffer.__path__, prefix="midibuffer.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as error:  # an optional extra that is not installed here
        pytest.skip(str(error))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_core_modules_have_examples() -> None:
    attempted = {
        name: doctest.testmod(importlib.import_module(name)).attempted
        for name in (
            "midibuffer.buffer",
            "midibuffer.data.message",
            "midibuffer.adapters.async_producer",
        )
    }
    assert all(attempted.values()), attempted


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("block", readme_blocks(), ids=lambda block: block.splitlines()[0])
def test_readme_python_blocks_run_and_print_what_they_say(block: str) -> None:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    # A comment line right after a print() line states what it prints.
    lines = block.splitlines()
    expected = [
        line[2:]
        for previous, line in itertools.pairwise(lines)
        if "print(" in previous and line.startswith("# ")
    ]
    printed = output.getvalue()
    for text in expected:
        assert text in printed
