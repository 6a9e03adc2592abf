"""The buffer behaves exactly like a bounded FIFO model, whatever the sequence of calls."""

from __future__ import annotations

from collections import deque

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from midibuffer import BufferStats, ClosedEndpointError, MidiMessage, midi_buffer

messages = st.builds(
    MidiMessage.note_on,
    channel=st.integers(0, 15),
    note=st.integers(0, 127),
    velocity=st.integers(0, 127),
)


class BufferAgainstModel(RuleBasedStateMachine):
    @initialize(capacity=st.integers(1, 8))
    def create(self, capacity: int) -> None:
        self.producer, self.consumer = midi_buffer(capacity)
        self.model: deque[MidiMessage] = deque()
        self.capacity = capacity
        self.sent = self.dropped = self.popped = self.peak = 0
        self.producer_closed = self.consumer_closed = False

    @rule(message=messages)
    def try_send(self, message: MidiMessage) -> None:
        if self.producer_closed:
            try:
                self.producer.try_send(message)
            except ClosedEndpointError:
                return
            raise AssertionError("a closed producer accepted a send")
        accepted = self.producer.try_send(message)
        should_accept = len(self.model) < self.capacity and not self.consumer_closed
        assert accepted == should_accept
        if accepted:
            self.model.append(message)
            self.sent += 1
            self.peak = max(self.peak, len(self.model))
        else:
            self.dropped += 1

    @precondition(lambda self: not self.consumer_closed)
    @rule()
    def try_pop(self) -> None:
        expected = self.model.popleft() if self.model else None
        self.popped += expected is not None
        assert self.consumer.try_pop() == expected

    @precondition(lambda self: not self.consumer_closed)
    @rule()
    def drain_into(self) -> None:
        out: list[MidiMessage] = []
        assert self.consumer.drain_into(out) == len(self.model)
        assert out == list(self.model)
        self.popped += len(self.model)
        self.model.clear()

    @rule()
    def close_producer(self) -> None:
        self.producer.close()
        self.producer_closed = True

    @rule()
    def close_consumer(self) -> None:
        self.consumer.close()
        self.consumer_closed = True

    @invariant()
    def predicates_match_the_model(self) -> None:
        if not self.consumer_closed:
            assert self.consumer.is_empty() == (not self.model)
            assert self.consumer.is_finished() == (self.producer_closed and not self.model)
        if not self.producer_closed:
            assert self.producer.is_full() == (
                len(self.model) == self.capacity or self.consumer_closed
            )
        assert self.producer.is_abandoned() == self.consumer_closed
        assert self.consumer.is_abandoned() == self.producer_closed

    @invariant()
    def stats_match_the_model(self) -> None:
        expected = BufferStats(
            capacity=self.capacity,
            sent=self.sent,
            dropped=self.dropped,
            popped=self.popped,
            fill=len(self.model),
            peak_fill=self.peak,
        )
        assert self.producer.stats() == self.consumer.stats() == expected


TestBufferAgainstModel = BufferAgainstModel.TestCase
