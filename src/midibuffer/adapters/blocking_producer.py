"""``BlockingMidiProducer``: a send that waits for room, for plain threads (a sequencer thread)."""

from __future__ import annotations

import time

from midibuffer.adapters.retry import RetryingSender, checked_timeout, timeout_error
from midibuffer.data.message import MidiMessage
from midibuffer.errors import not_a_message

__all__ = ["BlockingMidiProducer"]


class BlockingMidiProducer(RetryingSender):
    """Send into a :func:`~midibuffer.midi_buffer` from a thread, sleeping until there is room.

    The thread counterpart of :class:`~midibuffer.AsyncMidiProducer`, with
    the same retry policy and arguments: it sleeps with ``time.sleep``
    between tries and never needs the consumer to wake it. Owned by one
    thread, like the producer it wraps. Never use it in an audio callback or
    on an event loop's thread: it blocks.

    >>> from midibuffer import midi_buffer, MidiMessage, BlockingMidiProducer
    >>> producer, consumer = midi_buffer(1)
    >>> sender = BlockingMidiProducer(producer)
    >>> sender.send(MidiMessage.note_on(0, 60, 100))
    >>> sender.send(MidiMessage.note_off(0, 60), timeout=0.01)
    Traceback (most recent call last):
    ...
    TimeoutError: no room in the buffer: waited 0.0... s (timeout=0.01 s); the message was not sent
    >>> sender.stats().waits
    1
    """

    def send(self, message: MidiMessage, *, timeout: float | None = None) -> None:
        """Put *message* in the buffer, sleeping between tries until there is room.

        Owning thread only.

        Raises:
            TypeError: *message* is not a MidiMessage, or *timeout* is not a
                number (``bool`` included); checked before any waiting.
            ValueError: *timeout* is NaN or negative (checked first).
            TimeoutError: still no room after *timeout* seconds; the message
                was **not** inserted. The text says how long was waited.
            ClosedEndpointError: this producer was closed.
            AbandonedError: the consumer was closed or garbage collected.
        """
        timeout = checked_timeout(timeout)
        if not isinstance(message, MidiMessage):
            raise not_a_message(message)
        started = time.monotonic()
        pauses = self._pauses(message)
        try:
            for pause in pauses:
                if timeout is not None:
                    remaining = started + timeout - time.monotonic()
                    if remaining <= 0:
                        raise timeout_error(timeout, time.monotonic() - started)
                    pause = min(pause, remaining)
                time.sleep(pause)
        finally:
            pauses.close()

    def close(self) -> None:
        """Close the producer; the consumer sees the end of the stream. Idempotent."""
        self._close()
