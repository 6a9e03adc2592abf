"""Two real threads, a million messages: nothing lost, nothing duplicated, order kept.

Every message carries its sequence number in ``time``. The producer thread
offers each message once ("drop" mode: a full buffer drops it) or retries
until it is accepted ("retry" mode); the consumer thread pops with
``try_pop`` and ``drain_into`` until it sees the end of the stream. A short
GIL switch interval makes the threads interleave at nearly every bytecode.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from midibuffer import MidiBufferConsumer, MidiBufferProducer, MidiMessage, midi_buffer

MESSAGES_PER_RUN = 125_000  # x 4 capacities x 2 modes = 1,000,000 messages
# A hang guard, not a speed check. At capacity 1 with retries every message
# is a GIL hand-off between the threads; with both cores busy elsewhere each
# hand-off can wait for a scheduler time slice, and a run took over 240 s.
HANG_GUARD = 1_200


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def produce(producer: MidiBufferProducer, messages: list[MidiMessage], retry: bool) -> bytearray:
    accepted = bytearray(len(messages))
    send = producer.try_send
    for index, message in enumerate(messages):
        while not send(message):
            if not retry:
                break
        else:
            accepted[index] = 1
    producer.close()
    return accepted


def consume(consumer: MidiBufferConsumer, received: list[int]) -> None:
    batch: list[MidiMessage] = []
    while not consumer.is_finished():
        message = consumer.try_pop()
        if message is not None:
            received.append(int(message.time))  # type: ignore[arg-type]
        if consumer.drain_into(batch):
            received.extend(int(m.time) for m in batch)  # type: ignore[arg-type]
            batch.clear()


@pytest.mark.slow
@pytest.mark.timeout(HANG_GUARD + 60)
@pytest.mark.parametrize("mode", ["drop", "retry"])
@pytest.mark.parametrize("capacity", [1, 3, 64, 256])
def test_threads_lose_nothing_duplicate_nothing_and_keep_order(capacity: int, mode: str) -> None:
    messages = [
        MidiMessage.note_on(0, i % 128, 100, time=float(i)) for i in range(MESSAGES_PER_RUN)
    ]
    producer, consumer = midi_buffer(capacity)
    received: list[int] = []
    results: list[bytearray] = []
    retry = mode == "retry"
    threads = [
        threading.Thread(target=lambda: results.append(produce(producer, messages, retry))),
        threading.Thread(target=consume, args=(consumer, received)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HANG_GUARD)
        assert not thread.is_alive()

    accepted = results[0]
    stats = consumer.stats()
    assert received == [i for i in range(MESSAGES_PER_RUN) if accepted[i]]
    assert stats.sent == len(received) == stats.popped
    assert stats.fill == 0
    assert 1 <= stats.peak_fill <= capacity
    if mode == "drop":
        assert stats.sent + stats.dropped == MESSAGES_PER_RUN
    else:
        assert stats.sent == MESSAGES_PER_RUN
