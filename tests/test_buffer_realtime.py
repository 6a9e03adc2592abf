"""The consumer's real-time contract: no lock, no call, no loop, no allocation, no system call.

``try_pop`` and ``is_empty`` run inside audio callbacks. These tests prove the
contract from the outside (allocation counters, strace), for the core in use
(``tests/test_buffer_cores.py`` runs them again on the pure-Python core), and
from the inside: the Python code on those paths calls nothing and has no
loop, and the C core's source uses no lock.
"""

from __future__ import annotations

import ast
import dis
import gc
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import midibuffer.buffer
from midibuffer import MidiBufferConsumer, MidiMessage, midi_buffer
from midibuffer.buffer import _pyring

CALLS = 100_000
WARM_UP = 64
PYTHON_REALTIME_CODE = [  # every Python function a consumer's poll can run, in either core
    _pyring.ConsumerCore.try_pop,
    _pyring.ConsumerCore.is_empty,
    _pyring.Ring.empty.fget,
    MidiBufferConsumer.is_abandoned,
    MidiBufferConsumer.is_finished,
]
SOURCE = Path(midibuffer.buffer.__file__).parent  # the package in use (installed or src)
C_SOURCE = Path(__file__).resolve().parents[1] / "src" / "midibuffer" / "buffer"  # not in wheels


Polls = tuple[Callable[[], object], Callable[[], object], Callable[[], object]]


def polling_setup(state: str) -> tuple[object, Polls]:
    """The consumer's polling methods, bound (``try_pop``, ``is_empty``,
    ``is_finished``), on a buffer that stays empty, or stays non-empty for
    WARM_UP + CALLS pops; and what must stay alive meanwhile (the producer,
    and the messages, so that popping frees nothing)."""
    producer, consumer = midi_buffer(WARM_UP + CALLS)
    messages = [MidiMessage.note_on(0, i % 128, 100) for i in range(WARM_UP + CALLS)]
    for message in messages:
        assert producer.try_send(message)
    if state == "empty":
        consumer.drain_into([])
    return (producer, messages), (consumer.try_pop, consumer.is_empty, consumer.is_finished)


def steps(times: int) -> list[Iterator[None]]:
    """One ready-made loop counter per polling method (made before measuring)."""
    return [itertools.repeat(None, times) for _ in range(3)]


def poll(methods: Polls, loops: list[Iterator[None]]) -> None:
    """Call each method once per step of its loop; allocates nothing itself."""
    pop, empty, finished = methods
    for _ in loops[0]:
        pop()
    for _ in loops[1]:
        empty()
    for _ in loops[2]:
        finished()


# Both tests poll WARM_UP times first, through the same code: CPython's
# one-time costs (a frame on 3.10, quickening on 3.11, specialisation on
# 3.12+) come before steady state.


@pytest.mark.usefixtures("gc_disabled")
@pytest.mark.parametrize("state", ["non-empty", "empty"])
def test_polling_does_not_move_the_garbage_collector_counter(state: str) -> None:
    _alive, methods = polling_setup(state)
    warm_up, loops = steps(WARM_UP), steps(CALLS)
    poll(methods, warm_up)
    before = gc.get_count()[0]  # generation 0: tracked allocations minus frees
    poll(methods, loops)
    assert gc.get_count()[0] == before


@pytest.mark.parametrize("state", ["non-empty", "empty"])
def test_polling_allocates_no_memory_at_all(state: str) -> None:
    _alive, methods = polling_setup(state)
    warm_up, loops = steps(WARM_UP), steps(CALLS)
    tracemalloc.start()
    try:
        poll(methods, warm_up)
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        poll(methods, loops)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (before, peak) == (after, after)


@pytest.mark.parametrize("function", PYTHON_REALTIME_CODE, ids=lambda f: f.__qualname__)
def test_realtime_python_code_calls_nothing_and_never_loops(
    function: Callable[..., object],
) -> None:
    """No call means no lock, no system call, no I/O, no logging, no event loop;
    no backward jump means O(1)."""
    opnames = {instruction.opname for instruction in dis.get_instructions(function)}
    assert not {name for name in opnames if "CALL" in name or "JUMP_BACKWARD" in name}


FORBIDDEN_IMPORTS = {"threading", "_thread", "queue", "asyncio", "logging", "multiprocessing"}


def imported_modules(source: str) -> set[str]:
    """The top-level names of the modules *source* imports, anywhere in it
    (``import a.b``, ``from a.b import c``: ``a``). Relative imports are the
    package's own modules: not listed."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "source",
    [
        "import threading",
        "from threading import Lock",
        "import queue as q",
        "import os, asyncio.locks",
        "def f():\n    from logging import getLogger",
        "try:\n    import _thread\nexcept ImportError:\n    pass",
    ],
)
def test_the_import_check_sees_every_form_of_import(source: str) -> None:
    assert imported_modules(source) & FORBIDDEN_IMPORTS


@pytest.mark.parametrize("module", ["ends.py", "_pyring.py"])
def test_the_buffer_modules_import_no_locking_or_queueing_module(module: str) -> None:
    imported = imported_modules((SOURCE / module).read_text())
    assert "midibuffer" in imported  # the parse found the module's imports
    assert not imported & FORBIDDEN_IMPORTS


def test_the_c_core_uses_no_lock_and_releases_no_gil() -> None:
    """With the GIL held throughout, each C method runs whole; without any lock
    it cannot wait for the other thread."""
    source = (C_SOURCE / "_ring.c").read_text()
    for forbidden in ("PyThread_", "PyMutex", "pthread", "Py_BEGIN_ALLOW_THREADS", "PyEval_"):
        assert forbidden not in source


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_million_polls_make_no_system_call(tmp_path: Path) -> None:
    """Run try_pop/is_empty a million times under strace and count the system
    calls between two marker writes: there must be none."""
    script = textwrap.dedent(
        """
        import itertools, os
        from midibuffer import MidiMessage, midi_buffer
        producer, consumer = midi_buffer(1024)
        messages = [MidiMessage.note_on(0, 60, 100) for _ in range(1024)]
        for message in messages:
            producer.try_send(message)
        pop, empty = consumer.try_pop, consumer.is_empty
        pop(); empty()
        os.write(2, b"midibuffer-start\\n")
        for _ in itertools.repeat(None, 1_000_000):
            pop()
            empty()
        os.write(2, b"midibuffer-end\\n")
        """
    )
    log = tmp_path / "strace.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(
        ["strace", "-f", "-o", str(log), sys.executable, "-c", script],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    lines = log.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "midibuffer-start" in line)
    end = next(i for i, line in enumerate(lines) if "midibuffer-end" in line)
    assert lines[start + 1 : end] == []
