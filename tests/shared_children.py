"""Child-process bodies for test_shared.py (spawned: they must be importable)."""

from __future__ import annotations

import os
import signal
import time
from multiprocessing.connection import Connection

from midibuffer import MidiMessage, SharedMidiBufferConsumer, SharedMidiBufferProducer


def numbered(index: int) -> MidiMessage:
    """Message number *index* (0..16383), carrying a time so that times are checked too."""
    return MidiMessage([0xB0, index // 128, index % 128], time=index / 1000)


def number(message: MidiMessage) -> int:
    return message.data[1] * 128 + message.data[2]


def consume(consumer: SharedMidiBufferConsumer, count: int, report: Connection) -> None:
    """Pop *count* messages (spinning), then report their numbers and the stats."""
    got: list[int] = []
    times_ok = True
    deadline = time.monotonic() + 120
    while len(got) < count and time.monotonic() < deadline:
        message = consumer.try_pop()
        if message is None:
            continue
        got.append(number(message))
        times_ok = times_ok and message.time == got[-1] / 1000
    report.send((got, times_ok, consumer.is_finished(), consumer.stats()))


def produce(producer: SharedMidiBufferProducer, count: int, report: Connection) -> None:
    """Send numbered messages 0..count-1 (retrying when full), then report."""
    index = 0
    while index < count:
        if producer.try_send(numbered(index % 16384)):
            index += 1
    report.send(producer.stats())


def hold_then_wait(end: object, report: Connection) -> None:
    """Attach *end* (by being started with it), say so, then wait to be killed."""
    report.send(os.getpid())
    time.sleep(120)


def send_then_die(producer: SharedMidiBufferProducer, count: int, report: Connection) -> None:
    """Send *count* messages, say so, then die by SIGKILL without closing anything."""
    for index in range(count):
        assert producer.try_send(numbered(index))
    report.send(count)
    os.kill(os.getpid(), signal.SIGKILL)


def consume_to_end(consumer: SharedMidiBufferConsumer, report: Connection) -> None:
    """Pop until the stream ends (is_finished), then report the numbers popped."""
    got: list[int] = []
    deadline = time.monotonic() + 60
    while not consumer.is_finished() and time.monotonic() < deadline:
        message = consumer.try_pop()
        if message is not None:
            got.append(number(message))
    report.send((got, consumer.is_finished()))
