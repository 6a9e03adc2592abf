"""``AsyncMidiProducer``: ``await send()`` into a midi_buffer from asyncio or trio (via anyio)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from types import TracebackType

import anyio
import anyio.lowlevel

from midibuffer.adapters.retry import (
    DEFAULT_MAX_INTERVAL,
    DEFAULT_MIN_INTERVAL,
    FAST_TURNS,
    RetryingSender,
    checked_timeout,
    require_messages,
    timeout_error,
)
from midibuffer.buffer.shared import AnyProducer
from midibuffer.data.message import MidiMessage
from midibuffer.errors import not_a_message

__all__ = ["AsyncMidiProducer"]


class AsyncMidiProducer(RetryingSender):
    """Send into a :func:`~midibuffer.midi_buffer` from coroutines, waiting for room.

    Wraps the buffer's :class:`~midibuffer.MidiBufferProducer`; from then on
    send only through this object. It works unchanged on asyncio and trio.
    When the buffer is full, ``send`` waits and retries, pacing itself on the
    consumer's observed drain rate, so the consumer (an audio callback) never
    has to wake the event loop. Use it from one event loop; any number of
    tasks of that loop may share it, and they are served in the order they
    called ``send``.

    Args:
        producer: the producer returned by :func:`~midibuffer.midi_buffer`.
        min_interval: shortest pause between two tries, in seconds.
        max_interval: longest pause between two tries, in seconds; also the
            bound on how late a waiting ``send`` notices that the consumer is
            gone.

    Raises:
        TypeError: *producer* is not a MidiBufferProducer, or an interval is
            not a number.
        ValueError: an interval is not positive and finite, or
            ``max_interval < min_interval``.

    >>> import anyio
    >>> from midibuffer import midi_buffer, MidiMessage, AsyncMidiProducer
    >>> producer, consumer = midi_buffer(256)
    >>> async def sequencer() -> None:
    ...     async with AsyncMidiProducer(producer) as aproducer:
    ...         await aproducer.send(MidiMessage.note_on(0, 60, 100))
    ...         await aproducer.send(MidiMessage.note_off(0, 60), timeout=0.5)
    >>> anyio.run(sequencer)
    >>> [message.kind for message in (consumer.try_pop(), consumer.try_pop())]
    ['note_on', 'note_off']
    >>> consumer.is_finished()
    True
    """

    def __init__(
        self,
        producer: AnyProducer,
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        max_interval: float = DEFAULT_MAX_INTERVAL,
    ) -> None:
        super().__init__(producer, min_interval=min_interval, max_interval=max_interval)
        self._lock = anyio.Lock()
        self._fast_turns = 0

    async def send(self, message: MidiMessage, *, timeout: float | None = None) -> None:
        """Put *message* in the buffer, waiting for room as long as needed.

        Returns once the message is in the buffer, exactly once. Tasks that
        share this producer are served first come, first served.

        Raises:
            TypeError: *message* is not a MidiMessage, or *timeout* is not a
                number (``bool`` included); raised before any waiting, the
                buffer untouched.
            ValueError: *timeout* is NaN or negative (checked first).
            TimeoutError: there was still no room after *timeout* seconds;
                the message was **not** inserted. The text says how long
                was waited.
            ClosedEndpointError: this producer was closed (``aclose()``),
                before or while waiting.
            AbandonedError: the consumer was closed or garbage collected,
                before or while waiting (noticed within one retry pause).

        If the calling task is cancelled while waiting, the message was not
        inserted.
        """
        timeout = checked_timeout(timeout)
        if not isinstance(message, MidiMessage):
            raise not_a_message(message)
        # Fast path: nobody holds or awaits the lock, so no task called send before
        # this one and is still waiting: insert now, synchronously, and return
        # without awaiting after the insertion (a cancellation, anyio's or
        # asyncio's own task.cancel(), can then never land after it). Every
        # FAST_TURNS sends in a row, take a turn at the lock instead, which yields.
        if self._fast_turns < FAST_TURNS and not self._lock.locked():
            await anyio.lowlevel.checkpoint_if_cancelled()  # raises; never yields otherwise
            if self._insert(message):
                self._fast_turns += 1
                return
        self._fast_turns = 0
        await self._send_all((message,), timeout)

    async def send_many(
        self, messages: Iterable[MidiMessage], *, timeout: float | None = None
    ) -> None:
        """Put every message of *messages* in the buffer, in order, as one burst.

        Faster than one ``send`` per message: the batch takes its turn among
        the tasks once and inserts without pausing while there is room. Other
        tasks' messages never interleave with the batch. Each message has
        ``send``'s guarantees.

        Raises:
            TypeError: an item is not a MidiMessage (checked for all items
                before anything is inserted).
            TimeoutError, ClosedEndpointError, AbandonedError: as ``send``.
                The messages before the one that was waiting are in the
                buffer, each exactly once, and the others are not; the
                number inserted shows in ``stats().sent``.
        """
        timeout = checked_timeout(timeout)
        batch = list(messages)
        require_messages(batch)
        await self._send_all(batch, timeout)

    async def _send_all(self, messages: Iterable[MidiMessage], timeout: float | None) -> None:
        # The lock serves its callers in the order they called (it queues them before
        # any of them yields). Its only yield, once acquired, comes before the first
        # insertion, and nothing awaits after an insertion but the next message's
        # pauses: a cancellation can only land before a message is in.
        started = anyio.current_time()
        try:
            with nullcontext() if timeout is None else anyio.fail_after(timeout):
                async with self._lock:  # FIFO among this loop's tasks; a checkpoint
                    for message in messages:
                        pauses = self._pauses(message)
                        try:
                            for pause in pauses:
                                await anyio.sleep(pause)
                        finally:
                            pauses.close()
        except TimeoutError:
            if timeout is None:  # not ours
                raise
            raise timeout_error(timeout, anyio.current_time() - started) from None

    async def aclose(self) -> None:
        """Close the producer: the consumer sees the end of the stream once it
        has popped what was sent. Idempotent. Waiting sends then raise
        ClosedEndpointError at their next try."""
        self._close()
        await anyio.lowlevel.checkpoint()

    async def __aenter__(self) -> AsyncMidiProducer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
