"""What is shipped: the C cores' module initialisation, the version, the install.

The C cores use multi-phase initialisation (PEP 489) and keep their state per
module instance, so each (sub)interpreter that imports them gets its own; on
CPython 3.12+ they declare that they support a per-interpreter GIL, and the
subinterpreters below are the isolated kind (own GIL) there.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import midibuffer
from midibuffer import buffer

# Runs in the main interpreter and in each subinterpreter: both cores, with
# that interpreter's own MidiMessage class and error classes.
ROUND_TRIP = textwrap.dedent(
    """
    import midibuffer
    from midibuffer import ClosedEndpointError, MidiMessage, midi_buffer, shared_midi_buffer
    from midibuffer.buffer import CORE

    assert CORE == "c", CORE
    for make in (midi_buffer, shared_midi_buffer):
        producer, consumer = make(2)
        sysex = MidiMessage([0xF0, 1, 2, 3, 4, 5, 6, 7, 8, 0xF7], time=1.5)
        assert producer.try_send(MidiMessage([0x90, 60, 100]))
        assert producer.try_send(sysex)
        assert not producer.try_send(MidiMessage([0x80, 60, 0]))  # full: dropped
        first, second = consumer.try_pop(), consumer.try_pop()
        assert type(first) is MidiMessage and first.note == 60, first
        assert second == sysex and second.time == 1.5, second
        assert consumer.try_pop() is None
        try:
            producer.try_send(b"\\x90\\x3c\\x64")
        except TypeError as error:
            assert "MidiMessage" in str(error), error
        else:
            raise AssertionError("a bytes object was sent")
        producer.close()
        try:
            producer.try_send(first)
        except ClosedEndpointError:
            pass
        else:
            raise AssertionError("a closed producer sent")
        consumer.close()
    """
)

SUBINTERPRETERS = textwrap.dedent(
    """
    import sys
    try:
        import _interpreters as interpreters  # 3.13
    except ImportError:
        import _xxsubinterpreters as interpreters  # 3.10-3.12

    def create():
        if sys.version_info >= (3, 13):
            interpreter = interpreters.create("isolated")
            assert interpreters.get_config(interpreter).gil == "own"
            return interpreter
        if sys.version_info >= (3, 12):
            return interpreters.create(isolated=True)  # its own GIL
        return interpreters.create()

    def run(interpreter, code):
        failure = interpreters.run_string(interpreter, code)
        if failure is not None:  # 3.13 returns the exception instead of raising it
            raise RuntimeError(failure)

    exec(ROUND_TRIP)  # the main interpreter's module instances first
    first, second = create(), create()
    run(first, ROUND_TRIP)
    run(second, ROUND_TRIP)  # two instances alive at once
    interpreters.destroy(first)
    run(second, ROUND_TRIP)  # the first one's state is gone, the second one's is not
    interpreters.destroy(second)
    exec(ROUND_TRIP)  # and the main interpreter's still works
    print("subinterpreters ok")
    """
)


def test_the_c_cores_work_in_subinterpreters_each_with_its_own_state() -> None:
    if buffer.CORE != "c":
        pytest.skip("the C core was not built here")
    script = f"ROUND_TRIP = {ROUND_TRIP!r}\n{SUBINTERPRETERS}"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "subinterpreters ok"


def test_the_c_core_types_cannot_be_changed_from_python() -> None:
    """Heap types, but immutable as static types were: a replaced ``__new__``
    could make an end without a ring."""
    if buffer.CORE != "c":
        pytest.skip("the C core was not built here")
    from midibuffer.buffer import _ring, _shared

    types = [_ring.Ring, _ring.ProducerCore, _ring.ConsumerCore]
    types += [_shared.SharedRing, _shared.ProducerCore, _shared.ConsumerCore]
    for core_type in types:
        with pytest.raises(TypeError, match="immutable"):
            core_type.__new__ = lambda cls: object.__new__(cls)  # type: ignore[method-assign]
        with pytest.raises(TypeError, match="immutable"):
            core_type.try_pop = None  # type: ignore[attr-defined]


def test_the_version_has_one_source() -> None:
    installed = importlib.metadata.version("midibuffer")
    assert midibuffer.__version__ == installed
    result = subprocess.run(
        [sys.executable, "-m", "midibuffer", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == f"midibuffer {installed}"


def test_the_package_comes_from_where_this_run_installed_it() -> None:
    """scripts/test-wheel names the venv it installed the wheel into."""
    expected = os.environ.get("MIDIBUFFER_TEST_INSTALLED")
    if not expected:
        pytest.skip("not a run against an installed wheel (scripts/test-wheel sets this)")
    venv = Path(expected).resolve()
    package = Path(midibuffer.__file__).resolve()
    assert package.is_relative_to(venv), package
    assert buffer.CORE == "c"
    from midibuffer.buffer import _ring, _shared  # the compiled cores, from the wheel

    for core in (_ring, _shared):
        assert Path(core.__file__).resolve().is_relative_to(venv), core.__file__
