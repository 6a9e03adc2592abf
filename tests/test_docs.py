"""The documentation runs: every docstring example (doctest) and every Python
block of README.md, docs/guide.md and docs/async.md."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import itertools
import pkgutil
import re
import tokenize
from pathlib import Path

import pytest

import midibuffer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide.md"
ASYNC = ROOT / "docs" / "async.md"
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
    """The Python blocks of README.md, docs/guide.md and docs/async.md (none spawns
    processes)."""
    return [
        block
        for document in (README, GUIDE, ASYNC)
        for block in re.findall(r"```python\n(.*?)```", document.read_text(), re.S)
    ]


# Blocks of README.md that print but do not say what (keyed by their first
# line), with what they print. README.md should state it, in a comment; until
# then it is checked here.


def stated_output(block: str) -> list[str]:
    """What *block* says it prints, in order: the comment at the end of a
    ``print(`` line, or else a whole-line comment right after it."""
    comments: dict[int, tuple[str, bool]] = {}  # line -> (text, whole line)
    print_lines = []
    tokens = list(tokenize.generate_tokens(io.StringIO(block).readline))
    for token, following in itertools.pairwise(tokens):
        if token.type == tokenize.COMMENT:
            whole_line = not token.line[: token.start[1]].strip()
            comments[token.start[0]] = (token.string.removeprefix("#").strip(), whole_line)
        elif token[:2] == (tokenize.NAME, "print") and following.string == "(":
            print_lines.append(token.start[0])
    expected = []
    for line in print_lines:
        if line in comments and not comments[line][1]:
            expected.append(comments[line][0])
        elif line + 1 in comments and comments[line + 1][1]:
            expected.append(comments[line + 1][0])
    return expected


def test_stated_output_reads_both_comment_styles() -> None:
    block = 'print(1)  # 1\nx = 2  # not output\nprint(x)\n# 2\nprint("#")\n\n# later\n'
    assert stated_output(block) == ["1", "2"]


@pytest.mark.parametrize("block", readme_blocks(), ids=lambda block: block.splitlines()[0])
def test_readme_python_blocks_run_and_print_what_they_say(block: str) -> None:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    printed = output.getvalue().splitlines()
    expected = stated_output(block)
    # Every line printed is stated, in order (a print() that does not run, in a
    # branch not taken, states nothing).
    assert printed == expected
