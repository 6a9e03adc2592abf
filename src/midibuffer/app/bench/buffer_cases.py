"""The core buffer against ``collections.deque`` (the C floor), ``queue.Queue`` and
``queue.SimpleQueue``: non-empty pop, empty poll, and send+pop pairs.

Every timer runs the same ``for _ in repeat(None, n)`` loop around the
operation, as a user's polling loop would, with methods bound to locals
beforehand; filling and emptying happen outside the timed region.
``midibuffer`` is the buffer as imported (the C core where it was built);
where that is the C core, the pure-Python core is timed too, as a fifth
subject.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from itertools import repeat
from typing import Protocol

from midibuffer.app.bench.timing import Case, Target, Timer
from midibuffer.buffer import _pyring
from midibuffer.buffer.ends import CORE, midi_buffer
from midibuffer.data.message import MidiMessage

__all__ = ["CASES", "TARGETS"]

MESSAGE = MidiMessage.note_on(0, 60, 100)
PAIR_CAPACITY = 256


class _Sender(Protocol):
    def try_send(self, message: MidiMessage, /) -> bool: ...


class _Popper(Protocol):
    def try_pop(self) -> MidiMessage | None: ...


Make = Callable[[int], tuple[_Sender, _Popper]]


def _pure_python_buffer(capacity: int) -> tuple[_Sender, _Popper]:
    """The pure-Python core's two ends: the methods a pure-Python install runs."""
    ring = _pyring.Ring(capacity)
    return _pyring.ProducerCore(ring), _pyring.ConsumerCore(ring)


def _pop_midibuffer(make: Make, n: int) -> float:
    producer, consumer = make(n)
    for _ in repeat(None, n):
        producer.try_send(MESSAGE)
    pop = consumer.try_pop
    start = time.perf_counter()
    for _ in repeat(None, n):
        pop()
    return time.perf_counter() - start


def _pop_deque(n: int) -> float:
    items = deque(repeat(MESSAGE, n))
    pop = items.popleft
    start = time.perf_counter()
    for _ in repeat(None, n):
        pop()
    return time.perf_counter() - start


def _pop_queue(n: int) -> float:
    items: queue.Queue[MidiMessage] = queue.Queue(n)
    for _ in repeat(None, n):
        items.put_nowait(MESSAGE)
    pop = items.get_nowait
    start = time.perf_counter()
    for _ in repeat(None, n):
        pop()
    return time.perf_counter() - start


def _pop_simple_queue(n: int) -> float:
    items: queue.SimpleQueue[MidiMessage] = queue.SimpleQueue()
    for _ in repeat(None, n):
        items.put_nowait(MESSAGE)
    pop = items.get_nowait
    start = time.perf_counter()
    for _ in repeat(None, n):
        pop()
    return time.perf_counter() - start


def _poll_empty_midibuffer(make: Make, n: int) -> float:
    _producer, consumer = make(16)
    pop = consumer.try_pop
    start = time.perf_counter()
    for _ in repeat(None, n):
        pop()
    return time.perf_counter() - start


def _poll_empty_deque(n: int) -> float:
    items: deque[MidiMessage] = deque()
    pop = items.popleft
    start = time.perf_counter()
    for _ in repeat(None, n):
        if items:
            pop()
    return time.perf_counter() - start


def _poll_empty_queue(n: int) -> float:
    items: queue.Queue[MidiMessage] = queue.Queue(16)
    pop = items.get_nowait
    start = time.perf_counter()
    for _ in repeat(None, n):
        try:  # noqa: SIM105 - the idiom under test; contextlib.suppress is slower
            pop()
        except queue.Empty:
            pass
    return time.perf_counter() - start


def _poll_empty_simple_queue(n: int) -> float:
    items: queue.SimpleQueue[MidiMessage] = queue.SimpleQueue()
    pop = items.get_nowait
    start = time.perf_counter()
    for _ in repeat(None, n):
        try:  # noqa: SIM105 - the idiom under test; contextlib.suppress is slower
            pop()
        except queue.Empty:
            pass
    return time.perf_counter() - start


def _pairs_midibuffer(make: Make, n: int) -> float:
    producer, consumer = make(PAIR_CAPACITY)
    send, pop = producer.try_send, consumer.try_pop
    start = time.perf_counter()
    for _ in repeat(None, n):
        send(MESSAGE)
        pop()
    return time.perf_counter() - start


def _pairs_deque(n: int) -> float:
    items: deque[MidiMessage] = deque()
    send, pop = items.append, items.popleft
    start = time.perf_counter()
    for _ in repeat(None, n):
        send(MESSAGE)
        pop()
    return time.perf_counter() - start


def _pairs_queue(n: int) -> float:
    items: queue.Queue[MidiMessage] = queue.Queue(PAIR_CAPACITY)
    send, pop = items.put_nowait, items.get_nowait
    start = time.perf_counter()
    for _ in repeat(None, n):
        send(MESSAGE)
        pop()
    return time.perf_counter() - start


def _pairs_simple_queue(n: int) -> float:
    items: queue.SimpleQueue[MidiMessage] = queue.SimpleQueue()
    send, pop = items.put_nowait, items.get_nowait
    start = time.perf_counter()
    for _ in repeat(None, n):
        send(MESSAGE)
        pop()
    return time.perf_counter() - start


def _subjects(
    name: str, timer: Callable[[Make, int], float], peers: dict[str, Timer]
) -> dict[str, Timer]:
    """midibuffer first, then the pure-Python core (where the C core is in use), then peers."""
    subjects: dict[str, Timer] = {f"midibuffer {name}": partial(timer, midi_buffer)}
    if CORE == "c":
        subjects[f"pure-Python core {name}"] = partial(timer, _pure_python_buffer)
    return subjects | peers


CASES = [
    Case(
        "pop (non-empty)",
        _subjects(
            "try_pop",
            _pop_midibuffer,
            {
                "deque.popleft": _pop_deque,
                "Queue.get_nowait": _pop_queue,
                "SimpleQueue.get_nowait": _pop_simple_queue,
            },
        ),
    ),
    Case(
        "poll (empty)",
        _subjects(
            "try_pop",
            _poll_empty_midibuffer,
            {
                "deque (if d: popleft)": _poll_empty_deque,
                "Queue.get_nowait + Empty": _poll_empty_queue,
                "SimpleQueue.get_nowait + Empty": _poll_empty_simple_queue,
            },
        ),
    ),
    Case(
        "send+pop pair",
        _subjects(
            "try_send+try_pop",
            _pairs_midibuffer,
            {
                "deque append+popleft": _pairs_deque,
                "Queue(256) put_nowait+get_nowait": _pairs_queue,
                "SimpleQueue put_nowait+get_nowait": _pairs_simple_queue,
            },
        ),
    ),
]

TARGETS = [
    Target(
        "pop (non-empty)",
        "midibuffer try_pop",
        "deque.popleft",
        at_most=3.0,
        wording="non-empty try_pop within 3x of deque.popleft",
    ),
    Target(
        "poll (empty)",
        "midibuffer try_pop",
        "Queue.get_nowait + Empty",
        at_most=1 / 20,
        wording="empty poll at least 20x faster than Queue.get_nowait",
    ),
    Target(
        "send+pop pair",
        "midibuffer try_send+try_pop",
        "Queue(256) put_nowait+get_nowait",
        at_most=1 / 8,
        wording="send+pop at least 8x faster than queue.Queue",
    ),
]
