"""The pure-Python core of ``midi_buffer()``: the same interface as the C core
``midibuffer.buffer._ring``, used where that extension is not built (or when
``MIDIBUFFER_PURE_PYTHON=1``). ``docs/design.md`` explains both cores.

In short:

* The ring is ``capacity + 1`` preallocated nodes. A node is a four-item
  ``list``: ``[message or None, next node, sequence number, previous node]``.
  A slot is occupied exactly when its first item is not ``None``; the
  message reference itself is the synchronisation flag, so the data and its
  "ready" bit are published by one atomic store.
* The producer owns the write cursor, the consumer the read cursor. Each
  cursor is only ever stored by its owner, and each store or load of a list
  item or ``__slots__`` attribute is atomic in CPython.
* The producer writes a node only while the node *after* it is empty, so one
  node always stays empty: the one just behind the read cursor. Its sequence
  number therefore stays the number of messages popped so far.
* Both ends advance their cursor *before* touching the message item, so
  ``sent`` never lags behind a published message and ``popped`` never runs
  ahead of a cleared one.
* Closing costs the hot paths nothing: a closed end swaps its working
  reference from the ring to a :class:`_ClosedRing`, whose cursors raise
  :class:`~midibuffer.errors.ClosedEndpointError` when touched.
"""

from __future__ import annotations

from typing import Any, NoReturn

from midibuffer.data.message import MidiMessage
from midibuffer.errors import ClosedEndpointError, not_a_message

__all__ = ["ConsumerCore", "ProducerCore", "Ring"]

# Node layout: [message | None, next node, sequence number, previous node].
# The hot paths use the literal indices for speed; these names document them.
_MESSAGE, _NEXT, _SEQ, _PREV = 0, 1, 2, 3


class Ring:
    """The state both ends share. Each field has exactly one writer.

    ``read`` and ``write`` are the cursors: the node the consumer pops next,
    the node the producer fills next.
    """

    __slots__ = (
        "_peak_fill",
        "capacity",
        "consumer_gone",
        "dropped",
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
        self._peak_fill = 0  # producer only; peaks above 1 only (see peak_fill)
        self.producer_gone = False  # producer only (close() or garbage collection)
        self.consumer_gone = False  # consumer only (close() or garbage collection)

    @property
    def popped(self) -> int:
        """Messages popped so far: the sequence number behind the read cursor."""
        count: int = self.read[_PREV][_SEQ]
        return count

    @property
    def sent(self) -> int:
        """Messages sent so far: the sequence number behind the write cursor."""
        count: int = self.write[_PREV][_SEQ]
        return count

    @property
    def peak_fill(self) -> int:
        """The highest fill seen right after a send. ``try_send`` records peaks
        above 1 only, to stay cheap; any send made the fill at least 1."""
        return max(self._peak_fill, min(self.sent, 1))

    @property
    def empty(self) -> bool:
        """No message is waiting."""
        return self.read[_MESSAGE] is None


class _ClosedRing(Ring):
    """Stands in for the ring in a closed end's hot paths: the cursors raise."""

    __slots__ = ("_endpoint",)

    def __init__(self, endpoint: str) -> None:  # deliberately not Ring.__init__
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


class _EndpointCore:
    __slots__ = ("_live", "_ring")

    def __new__(cls, ring: Ring, /) -> _EndpointCore:
        if not isinstance(ring, Ring):  # checked before the object exists, so no __del__ runs
            raise TypeError(f"{cls.__name__} cannot be created directly: use midi_buffer(capacity)")
        return super().__new__(cls)

    def __init__(self, ring: Ring, /) -> None:
        self._ring = ring  # always the real ring: stats, abandonment
        self._live = ring  # what the hot paths use: the ring, or a _ClosedRing

    @property
    def _closed(self) -> bool:
        return self._live is not self._ring


class ProducerCore(_EndpointCore):
    """The hot paths of ``MidiBufferProducer``."""

    __slots__ = ()

    def try_send(self, message: MidiMessage, /) -> bool:
        """Append *message* if there is room (see the C core's docstring)."""
        if not issubclass(type(message), MidiMessage):  # the C core's check: no __class__ lies
            raise not_a_message(message)
        ring = self._live
        node = ring.write
        if node[1][0] is not None or ring.consumer_gone:  # the gap node is in use: full
            ring.dropped += 1
            return False
        previous = node[3]
        sent = previous[2] + 1
        node[2] = sent
        ring.write = node[1]  # count it as sent before it can be popped
        node[0] = message  # publish
        if previous[0] is not None:  # an older message waits, so fill may be a new peak
            fill = sent - ring.read[3][2]
            if fill > ring._peak_fill:
                ring._peak_fill = fill
        return True

    def is_full(self) -> bool:
        """Whether a ``try_send`` now would drop (see the C core's docstring)."""
        ring = self._live
        full: bool = ring.write[1][0] is not None or ring.consumer_gone
        return full

    def _close(self) -> None:
        self._live = _ClosedRing(type(self).__name__)
        self._ring.producer_gone = True

    def __del__(self) -> None:
        self._ring.producer_gone = True


class ConsumerCore(_EndpointCore):
    """The hot paths of ``MidiBufferConsumer``."""

    __slots__ = ()

    def try_pop(self) -> MidiMessage | None:
        """Remove and return the oldest message, or ``None`` (see the C core's docstring)."""
        ring = self._live
        node = ring.read
        message: MidiMessage | None = node[0]
        if message is not None:
            ring.read = node[1]  # count it as popped before the slot is freed
            node[0] = None  # free the slot
        return message

    def is_empty(self) -> bool:
        """Whether ``try_pop`` now would return ``None`` (see the C core's docstring)."""
        empty: bool = self._live.read[0] is None
        return empty

    def _peek(self) -> MidiMessage | None:
        """The oldest message, left in the buffer, or ``None``; ``drain_into`` uses it."""
        message: MidiMessage | None = self._live.read[0]
        return message

    def _close(self) -> None:
        self._live = _ClosedRing(type(self).__name__)
        self._ring.consumer_gone = True

    def __del__(self) -> None:
        self._ring.consumer_gone = True
