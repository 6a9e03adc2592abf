"""Specification of midi_buffer(), MidiBufferProducer and MidiBufferConsumer (one thread)."""

from __future__ import annotations

import copy
import gc
import pickle
import sys
import weakref

import pytest

from midibuffer import (
    MAX_CAPACITY,
    BufferStats,
    ClosedEndpointError,
    MidiBufferConsumer,
    MidiBufferError,
    MidiBufferProducer,
    MidiMessage,
    midi_buffer,
)


def note(n: int) -> MidiMessage:
    return MidiMessage.note_on(0, n % 128, 100)


# --- creation -------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [1, 2, 64, 256])
def test_capacity_is_reported_by_both_ends(capacity: int) -> None:
    producer, consumer = midi_buffer(capacity)
    assert producer.capacity == consumer.capacity == capacity


@pytest.mark.parametrize("capacity", [64.0, "64", None, True, [64]])
def test_non_integer_capacity_is_a_type_error(capacity: object) -> None:
    with pytest.raises(TypeError, match="capacity must be an int"):
        midi_buffer(capacity)  # type: ignore[arg-type]


@pytest.mark.parametrize("capacity", [0, -1, MAX_CAPACITY + 1, 10**12])
def test_capacity_out_of_range_is_a_value_error(capacity: int) -> None:
    with pytest.raises(ValueError, match=f"between 1 and {MAX_CAPACITY}"):
        midi_buffer(capacity)


def test_capacity_accepts_integer_like_objects() -> None:
    class Index:
        def __index__(self) -> int:
            return 8

    producer, _ = midi_buffer(Index())  # type: ignore[arg-type]
    assert producer.capacity == 8


# --- exact capacity and FIFO ------------------------------------------------------------


@pytest.mark.parametrize("capacity", [1, 2, 3, 64])
def test_exactly_capacity_messages_fit(capacity: int) -> None:
    producer, _ = midi_buffer(capacity)
    assert all(producer.try_send(note(i)) for i in range(capacity))
    assert producer.is_full()
    assert producer.try_send(note(capacity)) is False


def test_messages_come_out_in_the_order_they_went_in() -> None:
    producer, consumer = midi_buffer(4)
    out = []
    for i in range(40):  # wraps around the ring many times
        assert producer.try_send(note(i))
        if i % 3 == 2:
            while (message := consumer.try_pop()) is not None:
                out.append(message.note)
    while (message := consumer.try_pop()) is not None:
        out.append(message.note)
    assert out == list(range(40))


def test_popping_makes_room_for_exactly_one_more() -> None:
    producer, consumer = midi_buffer(2)
    producer.try_send(note(1))
    producer.try_send(note(2))
    assert consumer.try_pop() == note(1)
    assert producer.try_send(note(3))
    assert not producer.try_send(note(4))
    assert [consumer.try_pop(), consumer.try_pop(), consumer.try_pop()] == [note(2), note(3), None]


def test_a_full_buffer_drops_the_new_message_and_keeps_the_old_ones() -> None:
    producer, consumer = midi_buffer(2)
    producer.try_send(note(1))
    producer.try_send(note(2))
    assert not producer.try_send(note(3))
    assert [consumer.try_pop(), consumer.try_pop(), consumer.try_pop()] == [note(1), note(2), None]


def test_the_same_message_object_comes_out() -> None:
    producer, consumer = midi_buffer(1)
    message = MidiMessage.sysex(bytes(range(100)))
    producer.try_send(message)
    assert consumer.try_pop() is message


def test_empty_and_full_predicates() -> None:
    producer, consumer = midi_buffer(1)
    assert consumer.is_empty() and not producer.is_full()
    producer.try_send(note(1))
    assert not consumer.is_empty() and producer.is_full()
    consumer.try_pop()
    assert consumer.is_empty() and not producer.is_full()


def test_try_pop_on_an_empty_buffer_returns_none() -> None:
    _, consumer = midi_buffer(8)
    assert consumer.try_pop() is None


# --- bad input ------------------------------------------------------------------------


class Impostor:
    """Claims to be a MidiMessage (as ``Mock(spec=MidiMessage)`` does) but is not one."""

    __class__ = MidiMessage  # type: ignore[assignment]


@pytest.mark.parametrize("bad", [b"\x90\x3c\x64", [0x90, 60, 100], None, 60, "note_on", Impostor()])
def test_sending_something_else_than_a_message_is_a_type_error_and_changes_nothing(
    bad: object,
) -> None:
    producer, consumer = midi_buffer(2)
    producer.try_send(note(1))
    before = producer.stats()
    with pytest.raises(TypeError, match=r"takes a MidiMessage.*MidiMessage\(data\)"):
        producer.try_send(bad)  # type: ignore[arg-type]
    assert producer.stats() == before
    assert consumer.try_pop() == note(1)
    assert consumer.try_pop() is None


# --- drain_into -----------------------------------------------------------------------


def test_drain_into_appends_everything_ready_and_returns_the_count() -> None:
    producer, consumer = midi_buffer(8)
    for i in range(5):
        producer.try_send(note(i))
    out = [note(99)]
    assert consumer.drain_into(out) == 5
    assert out == [note(99)] + [note(i) for i in range(5)]
    assert consumer.is_empty()
    assert consumer.drain_into(out) == 0


def test_drain_into_takes_at_most_capacity_messages_even_while_the_producer_refills() -> None:
    producer, consumer = midi_buffer(3)
    for i in range(3):
        producer.try_send(note(i))

    class Refilling(list[MidiMessage]):
        def append(self, message: MidiMessage) -> None:
            super().append(message)
            producer.try_send(note(10 + len(self)))

    out = Refilling()
    assert consumer.drain_into(out) == 3
    assert out == [note(0), note(1), note(2)]
    # A message leaves the buffer only after append took it: at the first
    # append the buffer was still full, so note 11 was dropped.
    assert [consumer.try_pop(), consumer.try_pop(), consumer.try_pop()] == [
        note(12),
        note(13),
        None,
    ]
    assert producer.stats().dropped == 1


@pytest.mark.parametrize("out", [(), None, 7, "notes", frozenset()])
def test_drain_into_without_a_usable_append_pops_nothing(out: object) -> None:
    producer, consumer = midi_buffer(4)
    producer.try_send(note(1))
    producer.try_send(note(2))
    with pytest.raises(TypeError, match=r"append\(\).*nothing was popped"):
        consumer.drain_into(out)  # type: ignore[arg-type]
    assert [consumer.try_pop(), consumer.try_pop()] == [note(1), note(2)]
    assert consumer.stats().popped == 2


def test_drain_into_keeps_the_message_that_append_refused_at_the_front() -> None:
    producer, consumer = midi_buffer(8)
    for i in range(5):
        producer.try_send(note(i))

    class Refusing(list[MidiMessage]):
        def append(self, message: MidiMessage) -> None:
            if message.note == 3:
                raise MemoryError("no room in out")
            super().append(message)

    out = Refusing()
    with pytest.raises(MemoryError, match="no room in out"):
        consumer.drain_into(out)
    assert out == [note(0), note(1), note(2)]
    assert consumer.stats().popped == 3
    assert [consumer.try_pop(), consumer.try_pop(), consumer.try_pop()] == [note(3), note(4), None]


def test_drain_into_a_closed_consumer_raises_and_changes_nothing() -> None:
    producer, consumer = midi_buffer(4)
    producer.try_send(note(1))
    consumer.close()
    out: list[MidiMessage] = []
    with pytest.raises(ClosedEndpointError):
        consumer.drain_into(out)
    assert out == []
    assert producer.stats().popped == 0


def test_drain_into_counts_as_pops_and_frees_room() -> None:
    producer, consumer = midi_buffer(2)
    producer.try_send(note(1))
    producer.try_send(note(2))
    consumer.drain_into([])
    assert producer.try_send(note(3)) and producer.try_send(note(4))
    assert consumer.stats().popped == 2


# --- stats ----------------------------------------------------------------------------


def test_stats_of_a_new_buffer() -> None:
    producer, consumer = midi_buffer(16)
    expected = BufferStats(capacity=16, sent=0, dropped=0, popped=0, fill=0, peak_fill=0)
    assert producer.stats() == consumer.stats() == expected


def test_stats_count_sent_dropped_popped_fill_and_peak() -> None:
    producer, consumer = midi_buffer(4)
    results = [producer.try_send(note(i)) for i in range(6)]  # 4 sent, 2 dropped
    consumer.try_pop()
    assert results == [True] * 4 + [False] * 2
    assert consumer.stats() == BufferStats(
        capacity=4, sent=4, dropped=2, popped=1, fill=3, peak_fill=4
    )
    assert producer.stats() == consumer.stats()


def test_peak_fill_is_the_high_water_mark() -> None:
    producer, consumer = midi_buffer(8)
    for i in range(3):
        producer.try_send(note(i))
    consumer.drain_into([])
    producer.try_send(note(9))
    consumer.try_pop()
    assert producer.stats().peak_fill == 3
    assert producer.stats().fill == 0


def test_peak_fill_is_one_when_the_consumer_always_keeps_up() -> None:
    producer, consumer = midi_buffer(8)
    for i in range(20):
        producer.try_send(note(i))
        consumer.try_pop()
    assert consumer.stats().peak_fill == 1


def test_sent_plus_dropped_is_the_number_of_offers() -> None:
    producer, consumer = midi_buffer(3)
    offers = 0
    for i in range(100):
        producer.try_send(note(i))
        offers += 1
        if i % 7 == 0:
            consumer.drain_into([])
    stats = producer.stats()
    assert stats.sent + stats.dropped == offers
    assert stats.sent - stats.popped == stats.fill


# --- closing and abandonment ----------------------------------------------------------


def test_after_the_producer_closes_the_consumer_pops_what_is_left_then_sees_the_end() -> None:
    producer, consumer = midi_buffer(4)
    producer.try_send(note(1))
    producer.try_send(note(2))
    producer.close()
    assert consumer.is_abandoned()
    assert not consumer.is_finished()
    assert consumer.try_pop() == note(1)
    assert consumer.try_pop() == note(2)
    assert consumer.try_pop() is None
    assert consumer.is_finished()


def test_an_open_producer_never_reports_the_end_even_when_empty() -> None:
    _, consumer = midi_buffer(4)
    assert not consumer.is_abandoned()
    assert not consumer.is_finished()


def test_sending_on_a_closed_producer_raises_closed_endpoint_error() -> None:
    producer, _ = midi_buffer(4)
    producer.close()
    with pytest.raises(ClosedEndpointError, match="MidiBufferProducer was closed"):
        producer.try_send(note(1))
    with pytest.raises(ClosedEndpointError):
        producer.is_full()


def test_a_bound_method_taken_before_close_also_raises() -> None:
    producer, consumer = midi_buffer(4)
    send, pop = producer.try_send, consumer.try_pop
    producer.close()
    consumer.close()
    with pytest.raises(ClosedEndpointError):
        send(note(1))
    with pytest.raises(ClosedEndpointError):
        pop()


def test_popping_from_a_closed_consumer_raises_closed_endpoint_error() -> None:
    producer, consumer = midi_buffer(4)
    producer.try_send(note(1))
    consumer.close()
    with pytest.raises(ClosedEndpointError, match="MidiBufferConsumer was closed"):
        consumer.try_pop()
    with pytest.raises(ClosedEndpointError):
        consumer.is_empty()
    with pytest.raises(ClosedEndpointError):
        consumer.drain_into([])


def test_closed_endpoint_error_is_a_midibuffer_error_not_a_runtime_error() -> None:
    assert issubclass(ClosedEndpointError, MidiBufferError)
    assert not issubclass(ClosedEndpointError, RuntimeError)


def test_after_the_consumer_closes_sends_are_dropped_and_counted() -> None:
    producer, consumer = midi_buffer(4)
    consumer.close()
    assert producer.is_abandoned()
    assert producer.try_send(note(1)) is False
    assert producer.stats().dropped == 1
    assert producer.stats().sent == 0


def test_close_is_idempotent_and_stats_still_work() -> None:
    producer, consumer = midi_buffer(4)
    producer.try_send(note(1))
    for _ in range(2):
        producer.close()
        consumer.close()
    assert producer.stats().sent == 1
    assert consumer.stats().fill == 1
    assert "closed" in repr(producer) and "closed" in repr(consumer)


def test_garbage_collecting_the_consumer_abandons_the_producer() -> None:
    producer, consumer = midi_buffer(4)
    del consumer
    gc.collect()
    assert producer.is_abandoned()
    assert producer.try_send(note(1)) is False
    assert producer.stats().dropped == 1


def test_garbage_collecting_the_producer_ends_the_stream_after_what_it_sent() -> None:
    producer, consumer = midi_buffer(4)
    producer.try_send(note(7))
    del producer
    gc.collect()
    assert consumer.is_abandoned()
    assert consumer.try_pop() == note(7)
    assert consumer.is_finished()


def test_is_finished_never_raises_even_on_a_closed_consumer() -> None:
    producer, consumer = midi_buffer(4)
    consumer.close()
    producer.close()
    assert consumer.is_finished()


def test_dropping_both_ends_releases_the_messages_still_inside() -> None:
    message = note(1)
    references = sys.getrefcount(message)
    producer, consumer = midi_buffer(4)
    for _ in range(3):
        producer.try_send(message)
    consumer.try_pop()
    del producer, consumer
    gc.collect()  # the pure-Python core's nodes form a cycle
    assert sys.getrefcount(message) == references


def test_a_message_referring_back_to_its_buffer_does_not_keep_the_buffer_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MidiMessage is final, so no real message can refer to anything; the cores
    still take part in garbage collection, which a forced subclass checks."""
    monkeypatch.setattr(MidiMessage, "__init_subclass__", classmethod(lambda cls: None))

    class Tagged(MidiMessage):  # type: ignore[misc]
        pass

    producer, consumer = midi_buffer(4)
    message = Tagged([0x90, 60, 100])
    object.__setattr__(message, "consumer", consumer)  # MidiMessage refuses attribute stores
    producer.try_send(message)
    gone = weakref.ref(consumer)
    del producer, consumer, message
    gc.collect()
    assert gone() is None


# --- endpoints are unique -------------------------------------------------------------


@pytest.mark.parametrize("end", [0, 1])
@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy, pickle.dumps])
def test_an_endpoint_cannot_be_copied_or_pickled(end: int, duplicate: object) -> None:
    endpoint = midi_buffer(4)[end]
    with pytest.raises(TypeError, match="is unique"):
        duplicate(endpoint)  # type: ignore[operator]


@pytest.mark.parametrize("end", [MidiBufferProducer, MidiBufferConsumer])
@pytest.mark.parametrize("argument", [None, 64, "ring"])
def test_an_endpoint_cannot_be_made_except_by_midi_buffer(end: type, argument: object) -> None:
    with pytest.raises(TypeError, match=r"use midi_buffer\(capacity\)"):
        end(argument)


@pytest.mark.parametrize("end", [0, 1])
@pytest.mark.parametrize("make", [MidiBufferProducer, MidiBufferConsumer])
def test_an_end_cannot_be_forged_around_another_ends_ring(end: int, make: type) -> None:
    """``MidiBufferProducer(consumer._ring)`` would be a second producer of one buffer."""
    endpoint = midi_buffer(4)[end]
    with pytest.raises(TypeError, match=r"cannot be created directly: use midi_buffer\(capacity\)"):
        make(endpoint._ring)


def test_repr_shows_capacity_fill_and_state() -> None:
    producer, consumer = midi_buffer(4)
    producer.try_send(note(1))
    assert repr(producer) == "<MidiBufferProducer capacity=4 fill=1 open>"
    assert repr(consumer) == "<MidiBufferConsumer capacity=4 fill=1 open>"
