"""The single-producer/single-consumer MIDI buffer: ``midi_buffer()`` and its two ends.

This module holds all of midibuffer's concurrency reasoning; ``docs/design.md``
explains it at length. In short:

* The buffer is a ring of ``capacity + 1`` preallocated nodes. A node is a
  four-item ``list``: ``[message or None, next node, sequence number,
  previous node]``. A slot is occupied exactly when its first item is not
  ``None``; the message reference itself is the synchronisation flag, so the
  data and its "ready" bit are published by one atomic store.
* The producer owns the write cursor, the consumer the read cursor. Each
  cursor is only ever stored by its owner, and each store or load of a list
  item or ``__slots__`` attribute is atomic in CPython.
* The producer writes a node only while the node *after* it is empty, so one
  node always stays empty: the one just behind the read cursor. Its
  sequence number therefore stays the number of messages popped so far,
  which lets anybody read the popped count without the consumer counting.
* Both ends advance their cursor *before* touching the message item (the
  producer stores the message after moving on, the consumer clears it after
  moving on), so ``sent`` never lags behind a published message and
  ``popped`` never runs ahead of a cleared one.
* Closing costs the hot paths nothing: ``close()`` swaps the endpoint's
  working reference from the link to a :class:`_ClosedLink`, whose cursors
  raise :class:`~midibuffer.errors.ClosedEndpointError` when touched.

``try_pop`` and ``is_empty`` therefore take no lock, make no system call and
allocate nothing: they read and store references that already exist.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, NoReturn

from midibuffer.errors import ClosedEndpointError
from midibuffer.message import MidiMessage

__all__ = [
    "MAX_CAPACITY",
    "BufferStats",
    "MidiBufferConsumer",
    "MidiBufferProducer",
    "midi_buffer",
]

MAX_CAPACITY = 1 << 20
"""The largest capacity :func:`midi_buffer` accepts (1,048,576 messages).

Each slot is a preallocated node of about 100 bytes, so the limit costs about
100 MiB; a MIDI 1.0 cable carries at most about 3,125 messages a second, so
it is several minutes of a saturated cable. Larger values are refused with
:class:`ValueError` because they are almost certainly a mistake.
"""

# Node layout: [message | None, next node, sequence number, previous node].
# The hot paths use the literal indices for speed; these names document them.
_MESSAGE, _NEXT, _SEQ, _PREV = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class BufferStats:
    """A snapshot of a buffer's counters, returned by ``stats()`` on either end.

    Attributes:
        capacity: the number of messages the buffer holds when full.
        sent: messages accepted by ``try_send`` so far.
        dropped: messages refused by ``try_send`` (buffer full, or the
            consumer gone); ``sent + dropped`` is exactly the number of
            ``try_send`` calls that returned.
        popped: messages handed out by ``try_pop``/``drain_into``.
        fill: messages in the buffer now (``sent - popped``).
        peak_fill: the high-water mark: the highest fill the producer
            observed right after one of its sends. It is never above the true
            peak; a pop racing with the send that set it can make it lower.

    Read from either endpoint's owning thread, every field is exact for the
    moment it was read. From any other thread each counter is exact, but they
    are not read at one instant; ``fill`` is then clamped to
    ``0..capacity``.
    """

    capacity: int
    sent: int
    dropped: int
    popped: int
    fill: int
    peak_fill: int


class _Link:
    """The state both endpoints see. Each field has exactly one writer.

    ``read`` and ``write`` are the cursors: the node the consumer pops next,
    the node the producer fills next.
    """

    __slots__ = (
        "capacity",
        "consumer_gone",
        "dropped",
        "peak_fill",
        "producer_gone",
        "read",
        "write",
    )

    def __init__(self, capacity: int) -> None:
        nodes: list[list[Any]] = [[None, None, 0, None] for _ in range(capacity + 1)]
        for index, node in enumerate(nodes):
            node[_NEXT] = nodes[(index + 1) % len(nodes)]
            node[_PREV] = nodes[index - 1]
        self.capacity = capacity
        self.read: list[Any] = nodes[0]  # written by the consumer only
        self.write: list[Any] = nodes[0]  # written by the producer only
        self.dropped = 0  # producer only
        self.peak_fill = 0  # producer only
        self.producer_gone = False  # producer only (close() or garbage collection)
        self.consumer_gone = False  # consumer only (close() or garbage collection)

    def popped(self) -> int:
        """Messages popped so far: the sequence number behind the read cursor."""
        count: int = self.read[_PREV][_SEQ]
        return count

    def sent(self) -> int:
        """Messages sent so far: the sequence number behind the write cursor."""
        count: int = self.write[_PREV][_SEQ]
        return count

    def stats(self) -> BufferStats:
        popped = self.popped()  # first: sent can only grow after this
        sent = self.sent()
        return BufferStats(
            capacity=self.capacity,
            sent=sent,
            dropped=self.dropped,
            popped=popped,
            fill=min(max(sent - popped, 0), self.capacity),
            # try_send records peaks above 1 only; any send made the fill 1.
            peak_fill=max(self.peak_fill, min(sent, 1)),
        )


class _ClosedLink(_Link):
    """Stands in for the link in a closed endpoint's hot paths: the cursors raise."""

    __slots__ = ("_endpoint",)

    def __init__(self, endpoint: str) -> None:  # deliberately not _Link.__init__
        self._endpoint = endpoint

    def _closed(self) -> NoReturn:
        raise ClosedEndpointError(f"this {self._endpoint} was closed")

    @property
    def read(self) -> list[Any]:
        self._closed()

    @read.setter
    def read(self, node: list[Any]) -> None:
        self._closed()

    @property
    def write(self) -> list[Any]:
        self._closed()

    @write.setter
    def write(self, node: list[Any]) -> None:
        self._closed()


def midi_buffer(capacity: int) -> tuple[MidiBufferProducer, MidiBufferConsumer]:
    """Create a buffer holding exactly *capacity* messages; return its two ends.

    The producer goes to the one thread (or event loop) that sends, the
    consumer to the one thread that pops, typically an audio callback.
    Typical capacities are 64 to 256 messages.

    Raises:
        TypeError: *capacity* is not an integer (``bool`` is refused too).
        ValueError: *capacity* is less than 1 or more than :data:`MAX_CAPACITY`.

    >>> producer, consumer = midi_buffer(2)
    >>> producer.try_send(MidiMessage.note_on(0, 60, 100))
    True
    >>> producer.try_send(MidiMessage.note_off(0, 60))
    True
    >>> producer.try_send(MidiMessage.note_on(0, 64, 100))  # full: dropped
    False
    >>> consumer.try_pop()
    <MidiMessage note_on channel=0 note=60 velocity=100>
    """
    if isinstance(capacity, bool):
        raise TypeError("capacity must be an int, not bool")
    try:
        capacity = operator.index(capacity)
    except TypeError:
        raise TypeError(f"capacity must be an int, not {type(capacity).__name__}") from None
    if not 1 <= capacity <= MAX_CAPACITY:
        raise ValueError(f"capacity must be between 1 and {MAX_CAPACITY}, got {capacity}")
    link = _Link(capacity)
    return MidiBufferProducer(link), MidiBufferConsumer(link)


def not_a_message(value: object) -> TypeError:
    """The error every send path raises for a *value* that is not a MidiMessage."""
    return TypeError(
        f"sending takes a MidiMessage, not {type(value).__name__}; "
        "wrap raw bytes with MidiMessage(data), which validates them"
    )


class _Endpoint:
    """What both ends share: the link, closing, stats, uniqueness. Not public."""

    __slots__ = ("__weakref__", "_link", "_live")

    def __init__(self, link: _Link) -> None:
        self._link = link  # always the real link: stats, abandonment
        self._live = link  # what the hot paths use: the link, or a _ClosedLink

    def _close(self) -> None:
        self._live = _ClosedLink(type(self).__name__)

    @property
    def capacity(self) -> int:
        """The number of messages the buffer holds when full. Any thread."""
        return self._link.capacity

    def stats(self) -> BufferStats:
        """Return a :class:`BufferStats` snapshot. Never raises, takes no lock.

        Exact when called from this endpoint's owning thread; see
        :class:`BufferStats` for other threads. It builds one small object,
        so call it from an audio callback only if that is acceptable to you.
        """
        return self._link.stats()

    def __repr__(self) -> str:
        state = "open" if self._live is self._link else "closed"
        stats = self._link.stats()
        return f"<{type(self).__name__} capacity={stats.capacity} fill={stats.fill} {state}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} is unique: it cannot be copied or pickled")

    def __copy__(self) -> NoReturn:
        self.__reduce__()

    def __deepcopy__(self, memo: object) -> NoReturn:
        self.__reduce__()


class MidiBufferProducer(_Endpoint):
    """The sending end of a :func:`midi_buffer`. Create it with :func:`midi_buffer`.

    Owned by one thread at a time (typically a MIDI input thread, or an event
    loop through :class:`~midibuffer.AsyncMidiProducer`): it may be handed to
    another thread, but two threads must never use it concurrently. Nothing
    here blocks.

    >>> producer, consumer = midi_buffer(64)
    >>> producer.try_send(MidiMessage([0x90, 60, 100]))
    True
    >>> producer.is_full(), producer.capacity
    (False, 64)
    """

    __slots__ = ()

    def try_send(self, message: MidiMessage) -> bool:
        """Append *message* if there is room; never blocks. Owning thread only.

        Returns ``True`` if the message is now in the buffer, ``False`` if it
        was dropped because the buffer is full or the consumer is gone
        (closed or garbage collected); every drop is counted in
        ``stats().dropped``.

        Raises:
            TypeError: *message* is not a :class:`MidiMessage` (build one with
                ``MidiMessage(data)``, which validates it). The buffer and
                its counters are left untouched.
            ClosedEndpointError: this producer was closed.
        """
        if not isinstance(message, MidiMessage):
            raise not_a_message(message)
        link = self._live
        node = link.write
        if node[1][0] is not None or link.consumer_gone:  # the gap node is in use: full
            link.dropped += 1
            return False
        previous = node[3]
        sent = previous[2] + 1
        node[2] = sent
        link.write = node[1]  # count it as sent before it can be popped
        node[0] = message  # publish
        if previous[0] is not None:  # an older message waits, so fill may be a new peak
            fill = sent - link.read[3][2]
            if fill > link.peak_fill:
                link.peak_fill = fill
        return True

    def is_full(self) -> bool:
        """Return ``True`` if a ``try_send`` now would drop. Owning thread only.

        That is when the buffer holds ``capacity`` messages, or when the
        consumer is gone. The consumer may make room at any moment, so
        ``False`` stays true until this thread sends, while ``True`` may
        become stale.

        Raises:
            ClosedEndpointError: this producer was closed.
        """
        link = self._live
        full: bool = link.write[1][0] is not None or link.consumer_gone
        return full

    def is_abandoned(self) -> bool:
        """Return ``True`` once the consumer was closed or garbage collected.

        From then on every ``try_send`` drops. Any thread; never raises.
        """
        return self._link.consumer_gone

    def close(self) -> None:
        """Close the producer: no more sends. Idempotent. Owning thread only.

        Messages already sent stay in the buffer; the consumer can still pop
        them and then sees the end of the stream (``is_finished()``).
        Dropping the last reference to the producer has the same effect.
        """
        self._close()
        self._link.producer_gone = True

    def __del__(self) -> None:
        self._link.producer_gone = True


class MidiBufferConsumer(_Endpoint):
    """The receiving end of a :func:`midi_buffer`. Create it with :func:`midi_buffer`.

    Owned by one thread at a time, typically the audio callback's. Its
    polling methods (``try_pop``, ``is_empty``, ``is_abandoned``,
    ``is_finished``) are real-time safe: no lock, no system call, no I/O,
    no allocation, O(1).

    >>> producer, consumer = midi_buffer(64)
    >>> consumer.try_pop() is None
    True
    >>> _ = producer.try_send(MidiMessage.control_change(0, 7, 100))
    >>> while (message := consumer.try_pop()) is not None:
    ...     print(message.kind, message.value)
    control_change 100
    >>> consumer.is_empty()
    True
    """

    __slots__ = ()

    def try_pop(self) -> MidiMessage | None:
        """Remove and return the oldest message, or ``None`` if the buffer is empty.

        Never blocks. Owning thread only. Real-time safe: it moves one
        reference out of a preallocated slot and allocates nothing.

        Raises:
            ClosedEndpointError: this consumer was closed.
        """
        link = self._live
        node = link.read
        message: MidiMessage | None = node[0]
        if message is not None:
            link.read = node[1]  # count it as popped before the slot is freed
            node[0] = None  # free the slot
        return message

    def is_empty(self) -> bool:
        """Return ``True`` if ``try_pop`` now would return ``None``. Owning thread only.

        Real-time safe. The producer may add a message at any moment, so
        ``False`` stays true until this thread pops, while ``True`` may
        become stale.

        Raises:
            ClosedEndpointError: this consumer was closed.
        """
        empty: bool = self._live.read[0] is None
        return empty

    def drain_into(self, out: list[MidiMessage]) -> int:
        """Pop every message that is ready and append it to *out*; return how many.

        Stops after at most ``capacity`` messages, so it ends even if the
        producer keeps sending. Owning thread only. Like ``list.append``, it
        may have to grow *out*, which allocates; for strict real-time use,
        call ``try_pop`` in a loop instead, or pass a list that already has
        room.

        Raises:
            ClosedEndpointError: this consumer was closed.

        >>> producer, consumer = midi_buffer(8)
        >>> for note in (60, 64, 67):
        ...     _ = producer.try_send(MidiMessage.note_on(0, note))
        >>> messages: list[MidiMessage] = []
        >>> consumer.drain_into(messages)
        3
        >>> [message.note for message in messages]
        [60, 64, 67]
        """
        link = self._live
        node = link.read
        count = 0
        while count < link.capacity and (message := node[0]) is not None:
            link.read = node[1]  # same order as try_pop
            node[0] = None
            node = node[1]
            out.append(message)
            count += 1
        return count

    def is_abandoned(self) -> bool:
        """Return ``True`` once the producer was closed or garbage collected.

        Messages it sent before may still be waiting: use ``is_finished()``
        to learn that the stream has ended. Any thread; never raises;
        real-time safe.
        """
        return self._link.producer_gone

    def is_finished(self) -> bool:
        """Return ``True`` when the stream has ended: the producer is gone and
        every message it sent has been popped. This is the end-of-stream signal.

        Race-free: once it returns ``True``, ``try_pop`` returns ``None``
        forever. Owning thread only; never raises (not even after
        ``close()``); real-time safe.

        >>> producer, consumer = midi_buffer(4)
        >>> _ = producer.try_send(MidiMessage.note_on(0, 60))
        >>> producer.close()
        >>> consumer.is_abandoned(), consumer.is_finished()
        (True, False)
        >>> consumer.try_pop().note
        60
        >>> consumer.is_finished()
        True
        """
        link = self._link
        # Read the flag first: once the producer is gone nothing new can
        # arrive, so an empty slot seen afterwards stays empty.
        return link.producer_gone and link.read[0] is None

    def close(self) -> None:
        """Close the consumer: no more pops. Idempotent. Owning thread only.

        The producer then reports ``is_abandoned()`` and drops (and counts)
        every further message. Dropping the last reference to the consumer
        has the same effect.
        """
        self._close()
        self._link.consumer_gone = True

    def __del__(self) -> None:
        self._link.consumer_gone = True
