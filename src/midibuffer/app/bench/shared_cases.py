"""The shared ring between two processes, against faster-fifo and ``multiprocessing.Queue``.

* **send+pop pair, one thread**: the cost of the two calls themselves,
  shared ring against the in-process ring (goal: within 4x).
* **across processes**: a producer in this process, a consumer in a spawned
  child that spins on its pop; nanoseconds per message from the first send
  to the child's last pop, shared ring against faster-fifo (pickles, mutex,
  condition variables) and ``multiprocessing.Queue`` (pickles through a
  pipe). Goal: at least 10x faster than faster-fifo.
* **latency**: ``try_send`` in this process to ``try_pop`` in the child,
  each message stamped with ``perf_counter()`` (one clock for all
  processes on Linux), 50 µs apart.
* **stress**: 1,000,000 numbered messages through capacity 64; the child
  counts the lost, duplicated and reordered ones.
"""

from __future__ import annotations

import multiprocessing
import queue
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from multiprocessing.connection import Connection
from typing import Any

from midibuffer.app.bench.timing import Case, Target
from midibuffer.buffer import midi_buffer, shared_midi_buffer
from midibuffer.data.message import MidiMessage

__all__ = [
    "CASES",
    "TARGETS",
    "CrossResult",
    "cross_targets_met",
    "format_cross_report",
    "measure_cross_process",
]

MESSAGE = MidiMessage.note_on(0, 60, 100, time=1.0)
SPAWN = multiprocessing.get_context("spawn")


def _pairs(make: Callable[[int], tuple[Any, Any]], n: int) -> float:
    producer, consumer = make(256)
    send, pop = producer.try_send, consumer.try_pop
    start = time.perf_counter()
    for _ in repeat(None, n):
        send(MESSAGE)
        pop()
    elapsed = time.perf_counter() - start
    producer.close()
    consumer.close()
    return elapsed


CASES = [
    Case(
        "send+pop pair (one thread)",
        {
            "shared_midi_buffer": lambda n: _pairs(shared_midi_buffer, n),
            "midi_buffer (in-process)": lambda n: _pairs(midi_buffer, n),
        },
    )
]

TARGETS = [
    Target(
        "send+pop pair (one thread)",
        "shared_midi_buffer",
        "midi_buffer (in-process)",
        4.0,
        "shared send+pop pair within 4x of the in-process ring",
    )
]


# --- across processes: the children ----------------------------------------------------------


def _number(message: MidiMessage) -> int:
    data = message.data
    return data[1] << 7 | data[2]


def _numbered(index: int) -> MidiMessage:
    return MidiMessage((0xB0, index >> 7 & 0x7F, index & 0x7F))


def _consume_shared(consumer: Any, count: int, report: Connection) -> None:
    pop = consumer.try_pop
    got = 0
    while got < count:
        if pop() is not None:
            got += 1
    report.send(time.perf_counter())


def _consume_queue(items: Any, count: int, report: Connection) -> None:
    get = items.get
    for _ in repeat(None, count):
        get()
    report.send(time.perf_counter())


def _consume_faster_fifo(items: Any, count: int, report: Connection) -> None:
    got = 0
    while got < count:
        got += len(items.get_many(max_messages_to_get=1000, timeout=10))
    report.send(time.perf_counter())


def _latencies(consumer: Any, count: int, report: Connection) -> None:
    delays: list[float] = []
    pop = consumer.try_pop
    while len(delays) < count:
        message = pop()
        if message is not None:
            delays.append(time.perf_counter() - message.time)
    report.send(delays)


def _stress(consumer: Any, count: int, report: Connection) -> None:
    """Pop *count* messages; count those that are not the one after the previous
    (modulo 16384): any loss, duplicate or reordering shows there."""
    pop = consumer.try_pop
    previous = 0x3FFF
    received = out_of_sequence = 0
    while received < count:
        message = pop()
        if message is None:
            continue
        received += 1
        number = _number(message)
        if number != (previous + 1) & 0x3FFF:
            out_of_sequence += 1
        previous = number
    report.send((received, out_of_sequence))


# --- across processes: the parent ------------------------------------------------------------


def _run_child(target: Callable[..., None], end: Any, count: int) -> tuple[Any, Any]:
    mine, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=target, args=(end, count, theirs))
    child.start()
    return mine, child


def _cross_shared(count: int) -> float:
    producer, consumer = shared_midi_buffer(256)
    report, child = _run_child(_consume_shared, consumer, count)
    del consumer
    time.sleep(0.5)  # the child is up and spinning
    send = producer.try_send
    start = time.perf_counter()
    sent = 0
    while sent < count:
        if send(MESSAGE):
            sent += 1
    end: float = report.recv()
    child.join()
    producer.close()
    return (end - start) / count


def _cross_queue(items: Any, consume: Callable[..., None], count: int, put_many: bool) -> float:
    report, child = _run_child(consume, items, count)
    time.sleep(0.5)
    start = time.perf_counter()
    if put_many:
        for _ in repeat(None, count):
            while True:
                try:
                    items.put(MESSAGE, timeout=10)
                    break
                except queue.Full:
                    continue
    else:
        for _ in repeat(None, count):
            items.put(MESSAGE)
    end: float = report.recv()
    child.join()
    return (end - start) / count


@dataclass(frozen=True)
class CrossResult:
    """What :func:`measure_cross_process` found."""

    ns_per_message: dict[str, float]
    latency_p50_us: float
    latency_p99_us: float
    stress: tuple[int, int]  # received, out of sequence (lost, duplicated or reordered)


def measure_cross_process(count: int = 200_000, stress_count: int = 1_000_000) -> CrossResult:
    """Time the three subjects across processes, then the latency and the stress."""
    per_message = {"shared_midi_buffer": _cross_shared(count) * 1e9}
    try:
        import faster_fifo

        per_message["faster-fifo"] = (
            _cross_queue(
                faster_fifo.Queue(max_size_bytes=1 << 20), _consume_faster_fifo, count, True
            )
            * 1e9
        )
    except ImportError:
        pass
    per_message["multiprocessing.Queue"] = (
        _cross_queue(SPAWN.Queue(), _consume_queue, count // 4, False) * 1e9
    )

    producer, consumer = shared_midi_buffer(256)
    report, child = _run_child(_latencies, consumer, 20_000)
    del consumer
    time.sleep(0.5)
    for _ in range(20_000):
        due = time.perf_counter() + 50e-6
        while not producer.try_send(MESSAGE.with_time(time.perf_counter())):
            pass
        while time.perf_counter() < due:
            pass
    delays = sorted(report.recv())
    child.join()
    producer.close()

    producer, consumer = shared_midi_buffer(64)
    report, child = _run_child(_stress, consumer, stress_count)
    del consumer
    index = 0
    while index < stress_count:
        if producer.try_send(_numbered(index & 0x3FFF)):
            index += 1
    stress = report.recv()
    child.join()
    producer.close()
    return CrossResult(
        ns_per_message=per_message,
        latency_p50_us=statistics.median(delays) * 1e6,
        latency_p99_us=delays[int(len(delays) * 0.99)] * 1e6,
        stress=stress,
    )


def format_cross_report(result: CrossResult) -> str:
    """Markdown: ns per message across processes and the ratios, latency, stress."""
    ours = result.ns_per_message["shared_midi_buffer"]
    lines = ["| across processes | ns/message | x shared_midi_buffer |", "|---|---:|---:|"]
    for subject, ns in result.ns_per_message.items():
        lines.append(f"| {subject} | {ns:.0f} | {ns / ours:.1f} |")
    lines += [
        "",
        f"latency try_send -> try_pop in the child: p50 {result.latency_p50_us:.1f} µs, "
        f"p99 {result.latency_p99_us:.1f} µs",
        "stress: {:,} received, {} out of sequence (lost, duplicated or reordered)".format(
            *result.stress
        ),
    ]
    return "\n".join(lines)


def cross_targets_met(result: CrossResult) -> bool:
    """At least 10x faster than faster-fifo (when it is installed), and a clean stress."""
    fifo = result.ns_per_message.get("faster-fifo")
    faster = fifo is None or fifo / result.ns_per_message["shared_midi_buffer"] >= 10
    return faster and result.stress[1] == 0
