"""``AsyncMidiConsumer``: ``await receive()`` from a midi_buffer in asyncio or trio (via anyio)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import nullcontext
from dataclasses import dataclass
from types import TracebackType

import anyio
import anyio.lowlevel

from midibuffer.adapters.polling import PollPacer, checked_poll_intervals
from midibuffer.adapters.retry import FAST_TURNS, checked_timeout, timeout_error
from midibuffer.buffer.ends import claim_end, release_end
from midibuffer.buffer.shared import AnyConsumer, not_an_end
from midibuffer.data.message import MidiMessage

__all__ = [
    "DEFAULT_RECEIVE_IDLE_POLL_INTERVAL",
    "DEFAULT_RECEIVE_POLL_INTERVAL",
    "AsyncMidiConsumer",
    "ReceiverStats",
]

DEFAULT_RECEIVE_POLL_INTERVAL = 0.001
"""Seconds between two looks at the buffer while a ``receive`` waits and messages
have been coming (``docs/benchmarks.md``, "Async consumer")."""

DEFAULT_RECEIVE_IDLE_POLL_INTERVAL = 0.05
"""Seconds between two looks once a receive has waited
:data:`~midibuffer.adapters.polling.IDLE_AFTER` (1 s) worth of looks. An event
loop's wake-up costs this machine 270 µs (asyncio) to 380 µs (trio) of CPU when
the loop sleeps between looks, so a receiver waiting on a silent buffer costs
0.5% (asyncio) to 0.8% (trio) of a core (``docs/benchmarks.md``, "Async
consumer")."""


@dataclass(frozen=True, slots=True)
class ReceiverStats:
    """A snapshot of an :class:`AsyncMidiConsumer`'s counters (``stats()``).

    Attributes:
        received: messages handed out by ``receive``, ``receive_nowait`` and
            the iteration.
        waits: receives that found the buffer empty and had to wait.
        looks: looks that found the buffer empty while a receive waited; each
            is followed by a rest, and each rest by an event-loop wake-up.
    """

    received: int
    waits: int
    looks: int


class AsyncMidiConsumer:
    """Receive from a :func:`~midibuffer.midi_buffer` in coroutines, waiting for messages.

    Wraps the buffer's consumer (either kind: :func:`~midibuffer.midi_buffer`
    or :func:`~midibuffer.shared_midi_buffer`); from then on receive only
    through this object. It works unchanged on asyncio and trio. The producer
    never wakes it (nothing on the producer's side gets slower, and no thread
    but the loop's touches the event loop): a waiting ``receive`` looks at the
    buffer every *poll_interval*, and every *idle_poll_interval* once it has
    waited about a second (:data:`~midibuffer.adapters.polling.IDLE_AFTER`
    worth of looks) without a message, until the next one. Use it from one
    event loop; any number of its tasks may share it, served in the order
    they called ``receive`` (``receive_nowait`` does not queue: it takes what
    is there). For MIDI monitors, network MIDI out, recording: anything
    that reads a buffer from async code. An audio callback should pop the
    consumer itself.

    Args:
        consumer: the consumer of a buffer (another adapter must not hold it:
            :class:`~midibuffer.EndpointInUseError`).
        poll_interval: seconds between two looks while messages come (finite,
            > 0).
        idle_poll_interval: seconds between two looks after about a second of
            waiting without a message (finite, at least *poll_interval*), or ``None`` to look
            every *poll_interval* always. The first message after a silence
            waits up to this long.

    Raises:
        TypeError: *consumer* is not a buffer's consumer, or an interval is
            not a number.
        ValueError: an interval is not finite and positive, or
            *idle_poll_interval* is shorter than *poll_interval*.
        EndpointInUseError: another adapter holds *consumer*.

    >>> import anyio
    >>> from midibuffer import midi_buffer, MidiMessage, AsyncMidiConsumer
    >>> producer, consumer = midi_buffer(16)
    >>> for note in (60, 64, 67):
    ...     _ = producer.try_send(MidiMessage.note_on(0, note))
    >>> producer.close()
    >>> async def monitor() -> list[int]:
    ...     async with AsyncMidiConsumer(consumer) as receiver:
    ...         return [message.note async for message in receiver]
    >>> anyio.run(monitor)
    [60, 64, 67]
    """

    def __init__(
        self,
        consumer: AnyConsumer,
        *,
        poll_interval: float = DEFAULT_RECEIVE_POLL_INTERVAL,
        idle_poll_interval: float | None = DEFAULT_RECEIVE_IDLE_POLL_INTERVAL,
    ) -> None:
        if not isinstance(consumer, AnyConsumer):
            raise not_an_end("consumer", consumer)
        if poll_interval is None:
            raise TypeError("poll_interval must be a number of seconds, not None")
        fast, idle = checked_poll_intervals(poll_interval, idle_poll_interval)
        assert fast is not None
        claim_end(consumer, self)  # last: nothing else can fail after the claim
        self._consumer = consumer
        self._pacer = PollPacer(fast, idle)
        self._lock = anyio.Lock()
        self._received = self._waits = self._looks = self._fast_turns = 0

    @property
    def consumer(self) -> AnyConsumer:
        """The wrapped consumer."""
        return self._consumer

    def receive_nowait(self) -> MidiMessage:
        """Return the next message if there is one, without waiting. The loop's thread.

        It does not queue behind tasks waiting in ``receive``: it takes what is there.

        Raises:
            anyio.WouldBlock: the buffer is empty (the stream goes on).
            anyio.EndOfStream: the producer is gone and every message it sent
                was received.
            ClosedEndpointError: this receiver was closed (``aclose()``).
        """
        message = self._consumer.try_pop()
        if message is None:
            if self._consumer.is_finished():
                raise anyio.EndOfStream
            raise anyio.WouldBlock
        return self._took(message)

    def _took(self, message: MidiMessage) -> MidiMessage:
        """A look found *message*: count it, look often again, hand it out (no await)."""
        self._pacer.found()
        self._received += 1
        return message

    async def receive(self, *, timeout: float | None = None) -> MidiMessage:
        """Return the next message, waiting for one as long as needed.

        Each message is received exactly once, in the order it was sent.
        If the calling task is cancelled while waiting, no message was taken.

        Raises:
            TypeError: *timeout* is not a number (``bool`` included), before
                any waiting.
            ValueError: *timeout* is NaN or negative.
            TimeoutError: still no message after *timeout* seconds; the text
                says how long was waited.
            anyio.EndOfStream: the producer is gone (closed or garbage
                collected) and every message it sent was received.
            ClosedEndpointError: this receiver was closed, before or while
                waiting.
        """
        timeout = checked_timeout(timeout)
        # Fast path: nobody holds or awaits the lock, so no task called receive
        # before this one and is still waiting: pop now, synchronously, and return
        # without awaiting after the pop (a cancellation, anyio's or asyncio's own
        # task.cancel(), can then never land after it). Every FAST_TURNS receives in
        # a row, take a turn at the lock instead, which yields to the event loop.
        if self._fast_turns < FAST_TURNS and not self._lock.locked():
            await anyio.lowlevel.checkpoint_if_cancelled()  # raises; never yields otherwise
            message = self._consumer.try_pop()
            if message is not None:
                self._fast_turns += 1
                return self._took(message)
        self._fast_turns = 0
        # The lock serves its callers in the order they called (it queues them
        # before any of them yields). Its only yield, once acquired, comes before
        # the first pop, and nothing awaits after a pop.
        started = anyio.current_time()
        try:
            with nullcontext() if timeout is None else anyio.fail_after(timeout):
                async with self._lock:
                    return await self._wait()
        except TimeoutError:
            if timeout is None:  # not ours
                raise
            waited = anyio.current_time() - started
            raise timeout_error(
                timeout, waited, missing="message in the buffer", outcome="none was taken"
            ) from None

    async def _wait(self) -> MidiMessage:
        consumer, pacer = self._consumer, self._pacer
        waited = False
        while True:
            message = consumer.try_pop()
            if message is not None:
                return self._took(message)  # no checkpoint after the pop: a cancel cannot lose it
            if consumer.is_finished():
                raise anyio.EndOfStream
            if not waited:
                self._waits += 1
                waited = True
            self._looks += 1
            await anyio.sleep(pacer.rest())

    def is_abandoned(self) -> bool:
        """``True`` once the producer was closed or garbage collected (messages it
        sent may still wait). Never raises."""
        return self._consumer.is_abandoned()

    def stats(self) -> ReceiverStats:
        """A :class:`ReceiverStats` snapshot. Never raises."""
        return ReceiverStats(received=self._received, waits=self._waits, looks=self._looks)

    async def aclose(self) -> None:
        """Close the consumer: no more receiving; the producer sees ``is_abandoned()``
        and drops what it sends from then on. Messages still in the buffer are
        discarded. Idempotent. Waiting receives raise ClosedEndpointError at
        their next look."""
        self._consumer.close()
        release_end(self._consumer, self)
        await anyio.lowlevel.checkpoint()

    def __aiter__(self) -> AsyncIterator[MidiMessage]:
        return self

    async def __anext__(self) -> MidiMessage:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncMidiConsumer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
