"""The block scheduler on a virtual clock: which messages go into which block, at which sample."""

from __future__ import annotations

import gc
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from midibuffer import MidiBufferConsumer, MidiBufferProducer, MidiMessage, midi_buffer
from midibuffer.adapters.scheduler import DRIFT, RESYNC_BLOCKS, BlockScheduler, StreamClock

RATE = 48_000
FRAMES = 64
T0 = 1000.0  # perf_counter() reading of the first callback


def block_start(index: int) -> float:
    """When the callback of block *index* runs, with no jitter."""
    return T0 + index * FRAMES / RATE


def scheduler_with(
    capacity: int = 256, **options: object
) -> tuple[MidiBufferProducer, MidiBufferConsumer, BlockScheduler]:
    producer, consumer = midi_buffer(capacity)
    scheduler = BlockScheduler(consumer, RATE, **options)  # type: ignore[arg-type]
    scheduler.collect(FRAMES, now=block_start(0))
    return producer, consumer, scheduler


def placed(scheduler: BlockScheduler, index: int, jitter: float = 0.0) -> list[tuple[int, int]]:
    """Collect block *index*; return (absolute sample, note) of each event."""
    start = scheduler.position
    events = scheduler.collect(FRAMES, now=block_start(index) + jitter)
    return [(start + offset, message.note) for offset, message in events]


# --- StreamClock ------------------------------------------------------------------------


def test_the_clock_origin_is_the_earliest_callback_bound() -> None:
    clock = StreamClock(RATE)
    clock.update(0, T0 + 0.0003)  # a late first callback
    clock.update(FRAMES, T0 + FRAMES / RATE + 0.0001)
    clock.update(2 * FRAMES, T0 + 2 * FRAMES / RATE)  # the punctual one
    clock.update(3 * FRAMES, T0 + 3 * FRAMES / RATE + 0.0002)
    assert clock.origin == pytest.approx(T0)
    assert clock.sample_at(T0 + 0.5) == pytest.approx(RATE / 2)


def drifting_clock(ppm: float, seconds: float = 100.0) -> tuple[StreamClock, list[float]]:
    """A clock fed by a sound card *ppm* slower than perf_counter; returns it and
    the estimate's error (in samples) after every update."""
    clock = StreamClock(RATE)
    errors = []
    for block in range(int(seconds * RATE) // FRAMES):
        position = block * FRAMES
        now = T0 + position / RATE * (1 + ppm * 1e-6)
        clock.update(position, now)
        errors.append(clock.sample_at(now) - position)
    return clock, errors


def test_the_clock_follows_a_slow_device_up_to_the_drift_limit() -> None:
    assert DRIFT == 20e-6
    clock, errors = drifting_clock(ppm=15)
    assert clock.resyncs == 0
    settled = errors[3 * RATE // FRAMES :]  # after three windows
    assert max(settled) - min(settled) < 0.1  # it keeps pace: spacing stays exact
    assert max(map(abs, errors)) < 2  # behind by a constant of about two windows' drift


def test_a_device_slower_than_the_drift_limit_resynchronises_now_and_then() -> None:
    clock, errors = drifting_clock(ppm=100)
    # Deterministic (a virtual clock, no randomness): the drift beyond the limit,
    # (100 - 20) ppm x 100 s = 8 ms, is six 64-frame blocks (1.33 ms each).
    assert clock.resyncs == round((100e-6 - DRIFT) * 100.0 * RATE / FRAMES) == 6
    assert max(map(abs, errors)) <= FRAMES + 1  # behind by up to a block before it resyncs


def test_the_clock_resynchronises_when_the_stream_skips() -> None:
    clock = StreamClock(RATE)
    clock.update(0, T0)
    for block in range(1, 4):  # ten periods were skipped, and the stream goes on from there
        clock.update(block * FRAMES, T0 + (block + 10) * FRAMES / RATE)
        assert clock.resyncs == (1 if block == RESYNC_BLOCKS else 0)
    assert clock.origin == pytest.approx(T0 + 10 * FRAMES / RATE)


def test_a_stream_that_catches_up_from_far_behind_is_not_a_skip() -> None:
    clock = StreamClock(RATE)
    clock.update(0, T0)
    late = T0 + 11 * FRAMES / RATE  # block 1 comes 10 blocks late; 2..11 follow at once
    for block in range(1, 12):
        clock.update(block * FRAMES, late + block * 0.0001)
    clock.update(12 * FRAMES, T0 + 12 * FRAMES / RATE + 0.0002)
    assert clock.resyncs == 0
    assert clock.origin == pytest.approx(T0)


def test_a_stream_that_catches_up_is_not_a_skip() -> None:
    clock = StreamClock(RATE)
    clock.update(0, T0)
    late = T0 + 3.5 * FRAMES / RATE  # block 1 comes 2.5 blocks late, then 2 and 3 at once
    for block in range(1, 4):
        clock.update(block * FRAMES, late + block * 0.0001)
    clock.update(4 * FRAMES, T0 + 4 * FRAMES / RATE + 0.0004)
    assert clock.resyncs == 0
    assert clock.origin == pytest.approx(T0)


def test_the_clock_refuses_a_bad_rate_and_a_query_before_the_first_block() -> None:
    with pytest.raises(ValueError, match="samplerate"):
        StreamClock(0)
    with pytest.raises(RuntimeError, match="before the first update"):
        StreamClock(RATE).sample_at(1.0)


# --- timed mode -------------------------------------------------------------------------


@given(
    st.lists(st.floats(min_value=0.0, max_value=0.2), min_size=1, max_size=50),
    st.floats(min_value=0.0, max_value=0.0005),
)
def test_events_sent_a_block_ahead_land_on_their_exact_sample(
    delays: list[float], jitter: float
) -> None:
    producer, _consumer, scheduler = scheduler_with()
    start = block_start(1)
    times = sorted(start + delay for delay in delays)
    for index, when in enumerate(times):
        assert producer.try_send(MidiMessage.note_on(0, index % 128, time=when))
    landed = []
    for block in itertools.count(1):
        landed += placed(scheduler, block, jitter if block % 2 else 0.0)
        if len(landed) == len(times):
            break
    errors = [sample - (t - T0) * RATE for (sample, _), t in zip(landed, times, strict=True)]
    assert max(map(abs, errors)) <= 1  # rounding, and jitter the clock has not filtered out
    assert scheduler.stats().late == 0


def test_late_and_untimed_messages_go_at_offset_zero_and_late_ones_are_counted() -> None:
    producer, _consumer, scheduler = scheduler_with()
    producer.try_send(MidiMessage.note_on(0, 1, time=block_start(0)))  # a block late
    producer.try_send(MidiMessage.note_on(0, 2))  # no time: as soon as possible
    producer.try_send(MidiMessage.note_on(0, 3, time=block_start(1) + 10 / RATE))
    events = scheduler.collect(FRAMES, now=block_start(1))
    assert [(offset, message.note) for offset, message in events] == [(0, 1), (0, 2), (10, 3)]
    stats = scheduler.stats()
    assert (stats.late, stats.untimed, stats.events, stats.blocks) == (1, 1, 3, 2)


def test_a_message_for_a_later_block_waits_and_holds_back_the_ones_behind_it() -> None:
    producer, _consumer, scheduler = scheduler_with()
    producer.try_send(MidiMessage.note_on(0, 1, time=block_start(3) + 5 / RATE))
    producer.try_send(MidiMessage.note_on(0, 2))  # untimed, but behind note 1
    assert placed(scheduler, 1) == []
    assert placed(scheduler, 2) == []
    assert placed(scheduler, 3) == [(3 * FRAMES + 5, 1), (3 * FRAMES, 2)]


def test_a_full_block_defers_the_rest_to_the_next_block_and_loses_nothing() -> None:
    producer, _consumer, scheduler = scheduler_with(max_events=4)
    for note in range(10):
        producer.try_send(MidiMessage.note_on(0, note))
    notes = [note for block in (1, 2, 3) for _, note in placed(scheduler, block)]
    assert notes == list(range(10))
    assert scheduler.stats().deferred_blocks == 2


# --- live mode --------------------------------------------------------------------------


def test_live_input_plays_one_block_later_at_its_relative_position() -> None:
    producer, _consumer, scheduler = scheduler_with(mode="live")
    arrivals = [block_start(0) + frame / RATE for frame in (3, 20, 63)]
    for note, arrival in enumerate(arrivals):
        producer.try_send(MidiMessage.note_on(0, note, time=arrival))
    # Block 1 is rendered after all three arrived; they keep their spacing.
    assert placed(scheduler, 1, jitter=0.0002) == [(FRAMES + 3, 0), (FRAMES + 20, 1), (127, 2)]
    assert scheduler.stats().late == 0


def test_live_input_that_arrived_more_than_a_block_ago_is_late() -> None:
    producer, _consumer, scheduler = scheduler_with(mode="live")
    placed(scheduler, 1)
    producer.try_send(MidiMessage.note_on(0, 9, time=block_start(0)))
    assert placed(scheduler, 2) == [(2 * FRAMES, 9)]
    assert scheduler.stats().late == 1


# --- the real-time contract and bad input -----------------------------------------------


@pytest.mark.usefixtures("gc_disabled")
def test_collecting_creates_no_tracked_object() -> None:
    producer, consumer = midi_buffer(64)
    scheduler = BlockScheduler(consumer, RATE)
    messages = [MidiMessage.note_on(0, 60, time=block_start(b)) for b in range(2000)]
    for block in range(100):  # warm up: quickening, first blocks
        producer.try_send(messages[block])
        scheduler.collect(FRAMES, now=block_start(block))
    before = gc.get_count()[0]  # generation 0: tracked allocations minus frees
    for block in range(100, 2000):
        producer.try_send(messages[block])
        scheduler.collect(FRAMES, now=block_start(block))
    assert gc.get_count()[0] == before
    assert scheduler.stats().events == 2000


def test_bad_arguments_are_refused_clearly() -> None:
    _producer, consumer = midi_buffer(4)
    with pytest.raises(TypeError, match="MidiBufferConsumer"):
        BlockScheduler(object(), RATE)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        BlockScheduler(consumer, RATE, mode="soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_events"):
        BlockScheduler(consumer, RATE, max_events=0)
    with pytest.raises(ValueError, match="samplerate"):
        BlockScheduler(consumer, -1)
