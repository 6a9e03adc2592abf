"""Specification of AsyncMidiProducer, on asyncio and trio, against real consumer threads.

Every test here runs on both backends through anyio's pytest plugin; the
asyncio-native tests at the end use pytest-asyncio directly.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time

import anyio
import pytest

from midibuffer import (
    AbandonedError,
    AsyncMidiProducer,
    ClosedEndpointError,
    MidiMessage,
    midi_buffer,
)

from harness import AUDIO_PERIOD, PollingConsumer, numbered, numbers

anyio_tests = pytest.mark.anyio


async def wait_until(predicate: object, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await anyio.sleep(0.001)


# --- sending ---------------------------------------------------------------------------


@anyio_tests
async def test_send_returns_once_the_message_is_in_the_buffer() -> None:
    producer, consumer = midi_buffer(4)
    aproducer = AsyncMidiProducer(producer)
    message = MidiMessage.note_on(0, 60, 100)
    await aproducer.send(message)
    assert consumer.try_pop() is message
    assert aproducer.stats().sent == 1
    assert aproducer.stats().waits == 0


@anyio_tests
async def test_100k_messages_through_capacity_4_arrive_all_in_order(
    polling_consumer: type[PollingConsumer],
) -> None:
    producer, consumer = midi_buffer(4)
    reader = polling_consumer(consumer, period=0.000_1).start()
    messages = numbered(100_000)
    async with AsyncMidiProducer(producer, min_interval=0.000_05) as aproducer:
        for message in messages:
            await aproducer.send(message)
    await wait_until(lambda: len(reader.received) == 100_000, timeout=30)
    assert numbers(reader.received) == list(range(100_000))
    assert aproducer.stats().sent == 100_000
    assert aproducer.stats().waits > 0  # capacity 4: it really had to wait


@anyio_tests
async def test_a_full_buffer_makes_send_wait_not_drop(
    polling_consumer: type[PollingConsumer],
) -> None:
    producer, consumer = midi_buffer(2)
    reader = polling_consumer(consumer).start()
    reader.stall()
    aproducer = AsyncMidiProducer(producer)
    messages = numbered(3)
    await aproducer.send(messages[0])
    await aproducer.send(messages[1])
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(aproducer.send, messages[2])
        await anyio.sleep(0.05)
        assert producer.stats().sent == 2  # still waiting
        reader.resume()
    await wait_until(lambda: len(reader.received) == 3)
    assert numbers(reader.received) == [0, 1, 2]
    stats = aproducer.stats()
    assert (stats.sent, stats.dropped, stats.waits) == (3, 0, 1)
    assert stats.retries >= 1 and stats.max_wait >= 0.04
    assert producer.stats().dropped == 0  # retries are not drops


@anyio_tests
async def test_try_send_never_waits_and_counts_drops() -> None:
    producer, _consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer)
    assert aproducer.try_send(MidiMessage.note_on(0, 60))
    assert not aproducer.try_send(MidiMessage.note_on(0, 61))
    assert (aproducer.stats().sent, aproducer.stats().dropped) == (1, 1)


# --- timeouts and cancellation ----------------------------------------------------------


@anyio_tests
async def test_timeout_raises_builtin_timeout_error_and_does_not_insert() -> None:
    producer, consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer)
    first, late = numbered(2)
    await aproducer.send(first)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await aproducer.send(late, timeout=0.05)
    assert time.monotonic() - started >= 0.05
    assert consumer.try_pop() is first
    assert consumer.try_pop() is None  # the timed-out message never went in
    assert aproducer.stats().sent == 1


@anyio_tests
async def test_a_cancelled_send_has_not_inserted_its_message() -> None:
    producer, consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer)
    first, cancelled = numbered(2)
    await aproducer.send(first)
    with anyio.move_on_after(0.02) as scope:
        await aproducer.send(cancelled)
    assert scope.cancelled_caught
    assert [consumer.try_pop(), consumer.try_pop()] == [first, None]


@anyio_tests
async def test_cancellation_storm_inserts_exactly_the_sends_that_returned(
    polling_consumer: type[PollingConsumer],
) -> None:
    """300 tasks send through capacity 2 while random deadlines cancel them."""
    producer, consumer = midi_buffer(2)
    reader = polling_consumer(consumer).start()
    aproducer = AsyncMidiProducer(producer)
    called: list[int] = []
    returned: set[int] = set()
    rng = random.Random(1234)

    async def send_or_give_up(message: MidiMessage, patience: float) -> None:
        with anyio.move_on_after(patience):
            called.append(int(message.time))  # type: ignore[arg-type]
            await aproducer.send(message)
            returned.add(int(message.time))  # type: ignore[arg-type]

    async with anyio.create_task_group() as tasks:
        for message in numbered(300):
            tasks.start_soon(send_or_give_up, message, rng.uniform(0, 0.02))
            if rng.random() < 0.3:
                await anyio.sleep(0)
    await wait_until(lambda: len(reader.received) == len(returned))
    assert 0 < len(returned) < 300  # both outcomes really happened
    # Exactly the sends that returned, once each, in the order send was called
    # (the order the tasks *resume* in after returning is the scheduler's).
    assert numbers(reader.received) == [n for n in called if n in returned]


@anyio_tests
async def test_timed_out_sends_leave_the_buffer_usable() -> None:
    producer, consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer)
    await aproducer.send(MidiMessage.note_on(0, 1))
    for _ in range(5):
        with pytest.raises(TimeoutError):
            await aproducer.send(MidiMessage.note_on(0, 2), timeout=0.005)
    consumer.try_pop()
    await aproducer.send(MidiMessage.note_on(0, 3), timeout=1)
    assert consumer.try_pop() == MidiMessage.note_on(0, 3)


# --- several tasks ---------------------------------------------------------------------


@anyio_tests
async def test_tasks_sharing_a_producer_are_served_in_the_order_they_called_send(
    polling_consumer: type[PollingConsumer],
) -> None:
    producer, consumer = midi_buffer(1)
    reader = polling_consumer(consumer).start()
    reader.stall()
    aproducer = AsyncMidiProducer(producer)
    await aproducer.send(MidiMessage.note_on(0, 0, time=0.0))  # fills the buffer
    async with anyio.create_task_group() as tasks:
        for message in numbered(20, start=1):
            tasks.start_soon(aproducer.send, message)
            await anyio.sleep(0.001)  # each task calls send before the next starts
        reader.resume()
    await wait_until(lambda: len(reader.received) == 21)
    assert numbers(reader.received) == list(range(21))


@anyio_tests
async def test_send_many_keeps_a_batch_together_and_in_order(
    polling_consumer: type[PollingConsumer],
) -> None:
    producer, consumer = midi_buffer(3)
    reader = polling_consumer(consumer).start()
    aproducer = AsyncMidiProducer(producer)
    batches = [numbered(50, start=1000 * b) for b in range(4)]
    async with anyio.create_task_group() as tasks:
        for batch in batches:
            tasks.start_soon(aproducer.send_many, batch)
    await wait_until(lambda: len(reader.received) == 200)
    received = numbers(reader.received)
    runs = [received[i : i + 50] for i in range(0, 200, 50)]
    assert sorted(runs) == [numbers(batch) for batch in batches]  # contiguous, each in order


@anyio_tests
async def test_send_many_timeout_inserts_a_prefix_exactly_once() -> None:
    producer, consumer = midi_buffer(3)
    aproducer = AsyncMidiProducer(producer)
    with pytest.raises(TimeoutError):
        await aproducer.send_many(numbered(5), timeout=0.02)
    out: list[MidiMessage] = []
    consumer.drain_into(out)
    assert numbers(out) == [0, 1, 2]
    assert aproducer.stats().sent == 3


# --- bad input -------------------------------------------------------------------------


@anyio_tests
@pytest.mark.parametrize("bad", [b"\x90\x3c\x64", [0x90, 60, 100], None])
async def test_invalid_input_raises_before_waiting_and_changes_nothing(bad: object) -> None:
    producer, consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer)
    await aproducer.send(MidiMessage.note_on(0, 60))  # full: a valid send would wait
    with anyio.fail_after(1):
        with pytest.raises(TypeError, match="takes a MidiMessage"):
            await aproducer.send(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="takes a MidiMessage"):
            await aproducer.send_many([MidiMessage.note_on(0, 1), bad])  # type: ignore[list-item]
    assert producer.stats().sent == 1
    assert consumer.try_pop() == MidiMessage.note_on(0, 60)
    assert consumer.try_pop() is None


def test_retry_intervals_are_validated() -> None:
    producer, _ = midi_buffer(1)
    with pytest.raises(ValueError, match="min_interval must be a positive finite"):
        AsyncMidiProducer(producer, min_interval=0)
    with pytest.raises(ValueError, match="must not be less than min_interval"):
        AsyncMidiProducer(producer, min_interval=0.01, max_interval=0.001)
    with pytest.raises(TypeError, match="max_interval must be a number"):
        AsyncMidiProducer(producer, max_interval="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a MidiBufferProducer or SharedMidiBuffer"):
        AsyncMidiProducer(_)  # type: ignore[arg-type]


# --- the ends --------------------------------------------------------------------------


@anyio_tests
async def test_aclose_ends_the_stream_after_what_was_sent() -> None:
    producer, consumer = midi_buffer(4)
    async with AsyncMidiProducer(producer) as aproducer:
        await aproducer.send(MidiMessage.note_on(0, 60))
    assert consumer.is_abandoned() and not consumer.is_finished()
    assert consumer.try_pop() == MidiMessage.note_on(0, 60)
    assert consumer.is_finished()
    with pytest.raises(ClosedEndpointError):
        await aproducer.send(MidiMessage.note_on(0, 61))


@anyio_tests
async def test_aclose_while_a_send_waits_makes_it_raise_closed_endpoint_error() -> None:
    producer, _consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer)
    await aproducer.send(MidiMessage.note_on(0, 1))
    async with anyio.create_task_group() as tasks:

        async def close_soon() -> None:
            await anyio.sleep(0.02)
            await aproducer.aclose()

        tasks.start_soon(close_soon)
        with pytest.raises(ClosedEndpointError):
            await aproducer.send(MidiMessage.note_on(0, 2))


@anyio_tests
async def test_consumer_closed_while_waiting_raises_abandoned_error_within_one_interval(
    polling_consumer: type[PollingConsumer],
) -> None:
    producer, consumer = midi_buffer(1)
    reader = polling_consumer(consumer).start()
    reader.stall()
    aproducer = AsyncMidiProducer(producer, max_interval=0.02)
    await aproducer.send(MidiMessage.note_on(0, 1))
    async with anyio.create_task_group() as tasks:

        async def close_consumer_later() -> None:
            await anyio.sleep(0.3)  # long enough for the retries to back off fully
            reader.close_consumer()

        tasks.start_soon(close_consumer_later)
        with pytest.raises(AbandonedError):
            await aproducer.send(MidiMessage.note_on(0, 2))
        noticed = time.monotonic()
    assert consumer.stats().sent == 1
    assert aproducer.is_abandoned()
    # The consumer thread closes within one audio period of the request.
    assert reader.closed_at is not None
    assert noticed - reader.closed_at <= 0.02 + 0.03


@anyio_tests
async def test_consumer_garbage_collected_while_waiting_raises_abandoned_error() -> None:
    producer, consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer, max_interval=0.01)
    await aproducer.send(MidiMessage.note_on(0, 1))
    async with anyio.create_task_group() as tasks:

        async def drop_consumer() -> None:
            nonlocal consumer
            await anyio.sleep(0.02)
            del consumer
            gc.collect()

        tasks.start_soon(drop_consumer)
        with anyio.fail_after(1), pytest.raises(AbandonedError):
            await aproducer.send(MidiMessage.note_on(0, 2))


@anyio_tests
async def test_send_to_an_abandoned_buffer_raises_even_with_room() -> None:
    producer, consumer = midi_buffer(4)
    consumer.close()
    with pytest.raises(AbandonedError):
        await AsyncMidiProducer(producer).send(MidiMessage.note_on(0, 1))


# --- pacing ----------------------------------------------------------------------------


@anyio_tests
async def test_it_learns_the_consumer_period(polling_consumer: type[PollingConsumer]) -> None:
    producer, consumer = midi_buffer(2)
    polling_consumer(consumer).start()
    aproducer = AsyncMidiProducer(producer)
    for message in numbered(600):
        await aproducer.send(message)
    period = aproducer.stats().consumer_period
    assert period is not None
    assert 0.5 * AUDIO_PERIOD < period < 3 * AUDIO_PERIOD


@anyio_tests
async def test_waiting_on_a_stalled_consumer_backs_off(
    polling_consumer: type[PollingConsumer],
) -> None:
    """A one-second stall costs a few dozen retries, not thousands, and little CPU.

    (The exact CPU figure is measured by the benchmark; this bound is generous.)
    """
    producer, consumer = midi_buffer(1)
    reader = polling_consumer(consumer).start()
    aproducer = AsyncMidiProducer(producer)
    for message in numbered(200):  # learn the consumer's period first
        await aproducer.send(message)
    while producer.stats().fill:  # let the reader take the last one
        await anyio.sleep(0.001)
    reader.stall()
    await anyio.sleep(0.01)
    retries_before = aproducer.stats().retries
    assert aproducer.try_send(MidiMessage.note_on(0, 1))  # fills the buffer
    cpu_before, wall_before = time.thread_time(), time.monotonic()
    async with anyio.create_task_group() as tasks:

        async def resume_after_a_second() -> None:
            await anyio.sleep(1.0)
            reader.resume()

        tasks.start_soon(resume_after_a_second)
        await aproducer.send(MidiMessage.note_on(0, 2))
    cpu = time.thread_time() - cpu_before
    wall = time.monotonic() - wall_before
    assert wall >= 1.0
    assert aproducer.stats().retries - retries_before < 100
    assert cpu / wall < 0.25


# --- asyncio-native (pytest-asyncio) ----------------------------------------------------


@pytest.mark.asyncio
async def test_asyncio_task_cancel_does_not_insert() -> None:
    producer, consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer)
    await aproducer.send(MidiMessage.note_on(0, 1))
    task = asyncio.create_task(aproducer.send(MidiMessage.note_on(0, 2)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [consumer.try_pop(), consumer.try_pop()] == [MidiMessage.note_on(0, 1), None]


@pytest.mark.asyncio
async def test_asyncio_wait_for_times_out_without_inserting() -> None:
    producer, consumer = midi_buffer(1)
    aproducer = AsyncMidiProducer(producer)
    await aproducer.send(MidiMessage.note_on(0, 1))
    with pytest.raises(asyncio.TimeoutError):  # TimeoutError from 3.11 on
        await asyncio.wait_for(aproducer.send(MidiMessage.note_on(0, 2)), 0.02)
    assert consumer.stats().sent == 1
