"""Specification of BlockingMidiProducer: a waiting send for plain threads."""

from __future__ import annotations

import threading
import time

import pytest

from midibuffer import (
    AbandonedError,
    BlockingMidiProducer,
    ClosedEndpointError,
    MidiMessage,
    midi_buffer,
)

from harness import PollingConsumer, numbered, numbers


def test_a_sequencer_thread_sends_everything_in_order_through_a_small_buffer(
    polling_consumer: type[PollingConsumer],
) -> None:
    producer, consumer = midi_buffer(2)
    reader = polling_consumer(consumer).start()
    sender = BlockingMidiProducer(producer)
    messages = numbered(2_000)

    def sequencer() -> None:
        for message in messages:
            sender.send(message)
        sender.close()

    thread = threading.Thread(target=sequencer)
    thread.start()
    thread.join(timeout=60)
    deadline = time.monotonic() + 5
    while len(reader.received) < 2_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert numbers(reader.received) == list(range(2_000))
    assert sender.stats().sent == 2_000 and sender.stats().waits > 0
    assert producer.stats().dropped == 0


def test_timeout_raises_and_does_not_insert() -> None:
    producer, consumer = midi_buffer(1)
    sender = BlockingMidiProducer(producer)
    sender.send(MidiMessage.note_on(0, 1))
    started = time.monotonic()
    waited = r"no room in the buffer: waited (0\.0[3-9]\d|0\.[1-9]\d\d|[1-9]\d*\.\d{3}) s "
    waited += r"\(timeout=0\.03 s\)"
    with pytest.raises(TimeoutError, match=waited):
        sender.send(MidiMessage.note_on(0, 2), timeout=0.03)
    assert time.monotonic() - started >= 0.03
    assert [consumer.try_pop(), consumer.try_pop()] == [MidiMessage.note_on(0, 1), None]


def test_consumer_gone_while_waiting_raises_abandoned_error() -> None:
    producer, consumer = midi_buffer(1)
    sender = BlockingMidiProducer(producer, max_interval=0.01)
    sender.send(MidiMessage.note_on(0, 1))
    threading.Timer(0.05, consumer.close).start()
    with pytest.raises(AbandonedError):
        sender.send(MidiMessage.note_on(0, 2), timeout=2)


def test_closed_sender_raises_closed_endpoint_error() -> None:
    producer, _ = midi_buffer(1)
    sender = BlockingMidiProducer(producer)
    sender.close()
    with pytest.raises(ClosedEndpointError):
        sender.send(MidiMessage.note_on(0, 1))


def test_invalid_input_is_a_type_error() -> None:
    producer, _ = midi_buffer(1)
    with pytest.raises(TypeError, match="takes a MidiMessage"):
        BlockingMidiProducer(producer).send(b"\x90\x3c\x64")  # type: ignore[arg-type]
