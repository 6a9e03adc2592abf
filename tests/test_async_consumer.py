"""Specification of AsyncMidiConsumer, on asyncio and trio, against real producer threads
and a real producer process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import multiprocessing
import random
import threading
import time

import anyio
import pytest

from midibuffer import (
    AsyncMidiConsumer,
    AsyncMidiProducer,
    ClosedEndpointError,
    EndpointInUseError,
    MidiMessage,
    ReceiverStats,
    midi_buffer,
    shared_midi_buffer,
)
from midibuffer.adapters.polling import IDLE_AFTER
from midibuffer.scheduler import BlockScheduler

import shared_children
from harness import numbered, numbers

anyio_tests = pytest.mark.anyio


def send_from_a_thread(
    count: int, capacity: int = 64
) -> tuple[AsyncMidiConsumer, threading.Thread]:
    """A receiver, and a started thread sending numbered messages 0..count-1 into a
    buffer of *capacity*, waiting for room by spinning on try_send, then closing."""
    producer, consumer = midi_buffer(capacity)

    def send() -> None:
        for message in numbered(count):
            while not producer.try_send(message):
                time.sleep(0.000_1)
        producer.close()

    thread = threading.Thread(target=send)
    receiver = AsyncMidiConsumer(consumer)
    thread.start()
    return receiver, thread


# --- receiving ------------------------------------------------------------------------------


@anyio_tests
async def test_every_message_from_a_producer_thread_arrives_once_in_order() -> None:
    receiver, thread = send_from_a_thread(20_000)
    got = [await receiver.receive() for _ in range(20_000)]
    thread.join()
    assert numbers(got) == list(range(20_000))
    with pytest.raises(anyio.EndOfStream):
        await receiver.receive()
    assert receiver.stats().received == 20_000


@anyio_tests
async def test_async_for_ends_when_the_producer_is_closed_and_everything_was_popped() -> None:
    receiver, thread = send_from_a_thread(5_000, capacity=16)
    async with receiver:
        got = [message async for message in receiver]
        with pytest.raises(anyio.EndOfStream):
            await receiver.receive()
        with pytest.raises(anyio.EndOfStream):
            receiver.receive_nowait()
    thread.join()
    assert numbers(got) == list(range(5_000))


@anyio_tests
async def test_receive_nowait_takes_what_is_there_and_raises_would_block_when_empty() -> None:
    producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer)
    with pytest.raises(anyio.WouldBlock):
        receiver.receive_nowait()
    message = MidiMessage.note_on(0, 60, 100)
    assert producer.try_send(message)
    assert receiver.receive_nowait() is message
    with pytest.raises(anyio.WouldBlock):
        receiver.receive_nowait()
    assert receiver.stats() == ReceiverStats(received=1, waits=0, looks=0)


@anyio_tests
async def test_a_waiting_receive_gets_a_message_sent_later_by_another_thread() -> None:
    producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer)
    message = MidiMessage.note_on(0, 60, 100)
    got: list[MidiMessage] = []

    async def take() -> None:
        got.append(await receiver.receive(timeout=30))

    async with anyio.create_task_group() as group:
        group.start_soon(take)
        with anyio.fail_after(30):
            while receiver.stats().looks < 2:  # it is waiting, and has looked again
                await anyio.sleep(0.001)
        thread = threading.Thread(target=producer.try_send, args=(message,))
        thread.start()
    thread.join()
    assert got == [message]
    stats = receiver.stats()
    assert (stats.received, stats.waits) == (1, 1)


@anyio_tests
async def test_receive_timeout_raises_timeout_error_and_takes_nothing() -> None:
    producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer)
    started = time.monotonic()
    with pytest.raises(
        TimeoutError, match=r"no message in the buffer: waited \d+\.\d{3} s"
    ) as error:
        await receiver.receive(timeout=0.05)
    assert time.monotonic() - started >= 0.05
    assert float(str(error.value).split("waited ")[1].split(" s")[0]) >= 0.05
    assert "(timeout=0.05 s); none was taken" in str(error.value)
    message = MidiMessage.note_on(0, 60, 100)
    assert producer.try_send(message)
    assert await receiver.receive(timeout=0) is message  # a message there: no waiting


@anyio_tests
@pytest.mark.parametrize(
    ("timeout", "error"),
    [(True, TypeError), ("1", TypeError), (-1, ValueError), (math.nan, ValueError)],
)
async def test_receive_checks_its_timeout_before_taking_anything(
    timeout: object, error: type[Exception]
) -> None:
    producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer)
    assert producer.try_send(MidiMessage.note_on(0, 60))
    with pytest.raises(error, match="timeout"):
        await receiver.receive(timeout=timeout)  # type: ignore[arg-type]
    assert receiver.receive_nowait().note == 60


@anyio_tests
async def test_a_cancelled_receive_takes_no_message() -> None:
    producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer)
    with anyio.move_on_after(0.02) as scope:
        await receiver.receive()
    assert scope.cancelled_caught
    with anyio.CancelScope() as scope:  # cancelled before it starts: even a waiting
        scope.cancel()  # message stays in the buffer
        assert producer.try_send(MidiMessage.note_on(0, 61))
        await receiver.receive()
    assert receiver.receive_nowait().note == 61
    assert receiver.stats().received == 1


@anyio_tests
async def test_tasks_sharing_a_receiver_are_served_in_the_order_they_asked() -> None:
    producer, consumer = midi_buffer(8)
    receiver = AsyncMidiConsumer(consumer)
    got: dict[int, int] = {}

    async def take(task: int) -> None:
        got[task] = numbers([await receiver.receive()])[0]

    async with anyio.create_task_group() as group:
        for task in range(3):
            group.start_soon(take, task)
            await anyio.sleep(0.01)  # each task is waiting before the next starts
        for message in numbered(3):
            assert producer.try_send(message)
    assert got == {0: 0, 1: 1, 2: 2}


async def cancel_receives_at_random(receiver: AsyncMidiConsumer, count: int) -> list[int]:
    """Receive *count* messages, with a plain asyncio deadline of 0 to 300 µs on every
    receive: many are cancelled, on the fast path and while waiting."""
    got: list[MidiMessage] = []
    while len(got) < count:
        with contextlib.suppress(asyncio.TimeoutError):  # TimeoutError from 3.11 on
            got.append(await asyncio.wait_for(receiver.receive(), random.uniform(0, 0.000_3)))
    return numbers(got)


@pytest.mark.asyncio
async def test_asyncio_cancellations_never_lose_a_message() -> None:
    """task.cancel() and asyncio.wait_for, not only anyio's scopes: a receive is cancelled
    before it took a message or not at all, on the fast path as when it waits."""
    producer, consumer = midi_buffer(16)
    receiver = AsyncMidiConsumer(consumer)
    for message in numbered(3):
        assert producer.try_send(message)
    got: list[MidiMessage] = []
    task = asyncio.create_task(receiver.receive())
    await asyncio.sleep(0)  # the task runs (and, with a message there, returns at once)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        got.append(await task)
    with contextlib.suppress(asyncio.TimeoutError):
        got.append(await asyncio.wait_for(receiver.receive(), 0))
    while len(got) < 3:
        got.append(await receiver.receive())
    assert numbers(got) == [0, 1, 2]  # whatever was cancelled took nothing
    assert receiver.stats().received == 3
    receiver_2, thread = send_from_a_thread(20_000, capacity=64)
    assert await cancel_receives_at_random(receiver_2, 20_000) == list(range(20_000))
    thread.join()
    assert receiver_2.stats().received == 20_000


@pytest.mark.asyncio
async def test_an_asyncio_cancelled_send_never_inserted_its_message() -> None:
    """The producer's side of the same rule: a send cancelled by asyncio itself either
    raised and did not insert, or returned and inserted exactly once."""
    producer, consumer = midi_buffer(64)
    sender = AsyncMidiProducer(producer)
    first = numbered(1)[0]
    task = asyncio.create_task(sender.send(first))
    await asyncio.sleep(0)  # the task runs (and, with room, returns at once)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        await sender.send(first)  # not inserted: send it again
    assert consumer.try_pop() is first and consumer.try_pop() is None  # exactly once

    popped: list[MidiMessage] = []
    done = threading.Event()

    def pop() -> None:
        while not done.is_set() or not consumer.is_empty():
            message = consumer.try_pop()
            if message is None:
                time.sleep(0.000_2)
            else:
                popped.append(message)

    thread = threading.Thread(target=pop)
    thread.start()
    try:
        sent = 0
        for message in numbered(20_000):
            while True:
                try:
                    await asyncio.wait_for(sender.send(message), random.uniform(0, 0.000_3))
                except asyncio.TimeoutError:
                    continue  # not inserted: send it again
                sent += 1
                break
    finally:
        done.set()
        thread.join()
    assert numbers(popped) == list(range(20_000))  # no copy, no gap
    assert sender.stats().sent == 1 + 20_000


@anyio_tests
async def test_an_async_producer_and_an_async_consumer_in_one_loop() -> None:
    producer, consumer = midi_buffer(8)

    async def send_all() -> None:
        async with AsyncMidiProducer(producer) as sender:
            for message in numbered(2_000):
                await sender.send(message)

    async with anyio.create_task_group() as group, AsyncMidiConsumer(consumer) as receiver:
        group.start_soon(send_all)
        got = [message async for message in receiver]
    assert numbers(got) == list(range(2_000))


@anyio_tests
async def test_it_receives_from_a_producer_in_another_process() -> None:
    producer, consumer = shared_midi_buffer(64)
    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe(duplex=False)
    child = context.Process(target=shared_children.produce, args=(producer, 3_000, theirs))
    child.start()
    theirs.close()
    del producer  # the child's copy is the producer now: its exit ends the stream
    try:
        async with AsyncMidiConsumer(consumer) as receiver:
            with anyio.fail_after(60):
                got = [message async for message in receiver]
    finally:
        child.join(timeout=30)
    assert child.exitcode == 0
    assert [shared_children.number(message) for message in got] == [
        index % 16384 for index in range(3_000)
    ]
    assert mine.recv().sent == 3_000


# --- closing and ownership --------------------------------------------------------------


@anyio_tests
async def test_aclose_closes_the_consumer_and_the_producer_sees_it() -> None:
    producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer)
    await receiver.aclose()
    await receiver.aclose()  # idempotent
    assert producer.is_abandoned()
    assert not producer.try_send(MidiMessage.note_on(0, 60))
    with pytest.raises(ClosedEndpointError):
        await receiver.receive()
    with pytest.raises(ClosedEndpointError):
        receiver.receive_nowait()


@anyio_tests
async def test_a_waiting_receive_raises_closed_endpoint_error_when_another_task_closes_it() -> None:
    _producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer)
    caught: list[BaseException] = []

    async def wait() -> None:
        try:
            await receiver.receive()
        except ClosedEndpointError as error:
            caught.append(error)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.sleep(0.01)
            await receiver.aclose()
    assert len(caught) == 1


def test_one_adapter_per_consumer() -> None:
    _producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer)
    with pytest.raises(EndpointInUseError, match="AsyncMidiConsumer"):
        AsyncMidiConsumer(consumer)
    with pytest.raises(EndpointInUseError, match="AsyncMidiConsumer"):
        BlockScheduler(consumer, 48_000)
    del receiver
    gc.collect()
    AsyncMidiConsumer(consumer)  # a dropped receiver lets go of the consumer


@pytest.mark.parametrize(
    ("arguments", "error", "text"),
    [
        ({"consumer": "nope"}, TypeError, "consumer must be a MidiBufferConsumer"),
        ({"poll_interval": None}, TypeError, "poll_interval"),
        ({"poll_interval": "1"}, TypeError, "poll_interval"),
        ({"poll_interval": 0}, ValueError, "poll_interval"),
        ({"poll_interval": math.inf}, ValueError, "poll_interval"),
        ({"idle_poll_interval": -1}, ValueError, "idle_poll_interval"),
        ({"poll_interval": 0.01, "idle_poll_interval": 0.001}, ValueError, "shorter"),
    ],
)
def test_arguments_are_checked_naming_the_parameter(
    arguments: dict[str, object], error: type[Exception], text: str
) -> None:
    _producer, consumer = midi_buffer(4)
    with pytest.raises(error, match=text):
        AsyncMidiConsumer(**{"consumer": consumer, **arguments})  # type: ignore[arg-type]
    AsyncMidiConsumer(consumer)  # a refused construction did not claim the consumer


# --- the polling pace -------------------------------------------------------------------


@anyio_tests
async def test_a_silent_buffer_is_looked_at_less_often_until_the_next_message() -> None:
    """Counted, not timed: after IDLE_AFTER of silence, looks come every
    idle_poll_interval; a late loop only makes fewer looks, never more."""
    poll, idle, waited = 0.01, 0.1, IDLE_AFTER + 1.0
    producer, consumer = midi_buffer(4)
    receiver = AsyncMidiConsumer(consumer, poll_interval=poll, idle_poll_interval=idle)
    with pytest.raises(TimeoutError):
        await receiver.receive(timeout=waited)
    looks = receiver.stats().looks
    # A rest of poll_interval after each of the first IDLE_AFTER / poll looks, then of
    # idle_poll_interval: the first look, and the last partial rest, give the + 2.
    most = round(IDLE_AFTER / poll) + math.ceil((waited - IDLE_AFTER) / idle) + 2
    assert looks <= most, f"{looks} looks in {waited} s (polling every {poll} s: {waited / poll})"
    assert producer.try_send(MidiMessage.note_on(0, 60))
    assert (await receiver.receive()).note == 60  # found: back to every poll_interval
    before = receiver.stats().looks
    with pytest.raises(TimeoutError):
        await receiver.receive(timeout=0.3)
    assert receiver.stats().looks - before > 0.3 / idle + 1  # more than idle polling allows
