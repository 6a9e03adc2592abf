"""The single-producer/single-consumer MIDI buffer: ``midi_buffer()`` and its two ends.

The hot paths (``try_send``, ``is_full``, ``try_pop``, ``is_empty``) live in a
core: the C extension ``midibuffer.buffer._ring`` where it was built, else the
pure-Python ``midibuffer.buffer._pyring`` (also chosen by setting the environment
variable ``MIDIBUFFER_PURE_PYTHON=1`` before the import). Both behave the same
and pass the same tests; the C core is several times faster. The public
classes here add what is not hot: statistics, closing, ``drain_into``,
``repr``. ``docs/design.md`` explains why each core is correct.

Either way ``try_pop`` and ``is_empty`` take no lock, make no system call and
allocate nothing: they move references that already exist.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol, TypeVar

from midibuffer.checks import checked_int
from midibuffer.data.message import MidiMessage
from midibuffer.errors import EndpointInUseError

if TYPE_CHECKING:
    from midibuffer.buffer import _ring as _core
elif os.environ.get("MIDIBUFFER_PURE_PYTHON") == "1":
    from midibuffer.buffer import _pyring as _core
else:
    try:
        from midibuffer.buffer import _ring as _core
    except ImportError:  # not built: no C compiler at install time
        from midibuffer.buffer import _pyring as _core

__all__ = [
    "CORE",
    "MAX_CAPACITY",
    "BufferStats",
    "MidiBufferConsumer",
    "MidiBufferProducer",
    "claim_end",
    "midi_buffer",
    "release_end",
]

MAX_CAPACITY = 1 << 20
"""The largest capacity :func:`midi_buffer` accepts (1,048,576 messages).

The slots are preallocated: 8 bytes each in the C core (rounded up to a power
of two), an 88-byte node in the pure-Python one (measured with ``tracemalloc``;
``docs/guide.md``), so at the limit 8 or 88 MiB. A MIDI 1.0 cable carries at
most about 3,125 messages a second, so it is several minutes of a saturated
cable. Larger values are refused with
:class:`ValueError` because they are almost certainly a mistake.
"""

CORE: Literal["c", "python"] = "c" if _core.__name__ == "midibuffer.buffer._ring" else "python"
"""Which core runs the hot paths: ``"c"`` (the compiled ``midibuffer.buffer._ring``) or
``"python"`` (``midibuffer.buffer._pyring``)."""


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
    capacity = checked_capacity(capacity)
    ring = _core.Ring(capacity)
    return MidiBufferProducer._create(ring), MidiBufferConsumer._create(ring)


def checked_capacity(capacity: object) -> int:
    """*capacity* as an int in ``1..MAX_CAPACITY``; the check every buffer factory makes.

    Raises:
        TypeError: not an integer (``bool`` is refused too).
        ValueError: less than 1 or more than :data:`MAX_CAPACITY`.
    """
    return checked_int("capacity", capacity, 1, MAX_CAPACITY)


_T = TypeVar("_T")


class _RingView(Protocol):
    """What the ends read of any core's ring (in-process or shared)."""

    @property
    def capacity(self) -> int: ...
    @property
    def sent(self) -> int: ...
    @property
    def popped(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def peak_fill(self) -> int: ...
    @property
    def producer_gone(self) -> bool: ...
    @property
    def consumer_gone(self) -> bool: ...
    @property
    def empty(self) -> bool: ...


class _NoPublicConstructor(type):
    """The metaclass of the ends: calling the class raises; factories use ``_create``.

    The idea of trio's ``NoPublicConstructor``: an end made by hand around
    another end's ring would be a second producer or consumer of one buffer.
    """

    def __call__(cls, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            f"{cls.__name__} cannot be created directly: use midi_buffer(capacity), "
            "which returns both ends"
        )

    def _create(cls: type[_T], *args: Any) -> _T:
        end: Any = type.__call__(cls, *args)
        end._adapter = None
        return end  # type: ignore[no-any-return]


class _Endpoint:
    """What both ends add to their core: capacity, stats, repr, uniqueness. Not public.

    A mixin without state (the core holds ``_ring`` and the closed flag; each
    end declares the ``_adapter`` slot), so the core's C methods stay the ones
    found first and fastest.
    """

    __slots__ = ()

    if TYPE_CHECKING:  # each end's slot (see claim_end)

        @property
        def _adapter(self) -> weakref.ref[object] | None: ...
        @_adapter.setter
        def _adapter(self, adapter: weakref.ref[object] | None) -> None: ...

    if TYPE_CHECKING:  # from the core, which comes after the mixins in the MRO

        @property
        def _ring(self) -> _RingView: ...
        @property
        def _closed(self) -> bool: ...
        def _close(self) -> None: ...

    @property
    def capacity(self) -> int:
        """The number of messages the buffer holds when full. Any thread."""
        return self._ring.capacity

    def stats(self) -> BufferStats:
        """Return a :class:`BufferStats` snapshot. Never raises, takes no lock.

        Exact when called from this endpoint's owning thread; see
        :class:`BufferStats` for other threads. It builds one small object,
        so call it from an audio callback only if that is acceptable to you.
        """
        ring = self._ring
        popped = ring.popped  # first: sent can only grow after this
        sent = ring.sent
        return BufferStats(
            capacity=ring.capacity,
            sent=sent,
            dropped=ring.dropped,
            popped=popped,
            fill=min(max(sent - popped, 0), ring.capacity),
            peak_fill=ring.peak_fill,
        )

    def __repr__(self) -> str:
        stats = self.stats()
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} capacity={stats.capacity} fill={stats.fill} {state}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} is unique: it cannot be copied or pickled")

    def __copy__(self) -> NoReturn:
        self.__reduce__()

    def __deepcopy__(self, memo: object) -> NoReturn:
        self.__reduce__()


class _ProducerEnd(_Endpoint):
    """What every producer adds to its core (in-process or shared). Not public."""

    __slots__ = ()

    if TYPE_CHECKING:  # the core's hot paths

        def try_send(self, message: MidiMessage, /) -> bool: ...
        def is_full(self) -> bool: ...

    def is_abandoned(self) -> bool:
        """Return ``True`` once the consumer was closed or garbage collected.

        From then on every ``try_send`` drops. Any thread; never raises.
        """
        return self._ring.consumer_gone

    def close(self) -> None:
        """Close the producer: no more sends. Idempotent. Owning thread only.

        Messages already sent stay in the buffer; the consumer can still pop
        them and then sees the end of the stream (``is_finished()``).
        Dropping the last reference to the producer has the same effect.
        """
        self._close()


class _ConsumerEnd(_Endpoint):
    """What every consumer adds to its core (in-process or shared). Not public."""

    __slots__ = ()

    if TYPE_CHECKING:  # the core's hot paths

        def try_pop(self) -> MidiMessage | None: ...
        def is_empty(self) -> bool: ...
        def _peek(self) -> MidiMessage | None: ...

    def drain_into(self, out: list[MidiMessage]) -> int:
        """Pop every message that is ready and append it to *out*; return how many.

        Stops after at most ``capacity`` messages, so it ends even if the
        producer keeps sending. Owning thread only. Like ``list.append``, it
        may have to grow *out*, which allocates; for strict real-time use,
        call ``try_pop`` in a loop instead, or pass a list that already has
        room.

        Nothing is lost: a message leaves the buffer only after
        ``out.append`` took it. If ``append`` raises, the message it refused
        stays at the front of the buffer, every earlier one is in *out*, and
        the exception propagates.

        Raises:
            TypeError: *out* has no callable ``append`` (a tuple, ``None``, a
                str...); nothing was popped.
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
        append = getattr(out, "append", None)
        if not callable(append):
            raise TypeError(
                f"drain_into() needs an out with an append() method, such as a list, "
                f"not {type(out).__name__}; nothing was popped"
            )
        capacity = self._ring.capacity
        count = 0
        while count < capacity and (message := self._peek()) is not None:
            append(message)  # if it raises, the message is still in the buffer
            self.try_pop()
            count += 1
        return count

    def is_abandoned(self) -> bool:
        """Return ``True`` once the producer was closed or garbage collected.

        Messages it sent before may still be waiting: use ``is_finished()``
        to learn that the stream has ended. Any thread; never raises;
        real-time safe.
        """
        return self._ring.producer_gone

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
        ring = self._ring
        # Read the flag first: once the producer is gone nothing new can
        # arrive, so an empty ring seen afterwards stays empty.
        return ring.producer_gone and ring.empty

    def close(self) -> None:
        """Close the consumer: no more pops. Idempotent. Owning thread only.

        The producer then reports ``is_abandoned()`` and drops (and counts)
        every further message. Dropping the last reference to the consumer
        has the same effect.
        """
        self._close()


# The core's _ring is a Ring, which the mixins see as a _RingView: mypy cannot
# tell that a property returning a subtype is fine across two bases.
class MidiBufferProducer(  # type: ignore[misc]
    _ProducerEnd, _core.ProducerCore, metaclass=_NoPublicConstructor
):
    """The sending end of a :func:`midi_buffer`. Create it with :func:`midi_buffer`.

    Owned by one thread at a time (typically a MIDI input thread, or an event
    loop through :class:`~midibuffer.AsyncMidiProducer`): it may be handed to
    another thread, but two threads must never use it concurrently. Nothing
    here blocks. ``try_send`` and ``is_full`` come from the core (see the
    module docstring); their docstrings say what they return and raise.

    >>> producer, consumer = midi_buffer(64)
    >>> producer.try_send(MidiMessage([0x90, 60, 100]))
    True
    >>> producer.is_full(), producer.capacity
    (False, 64)
    """

    __slots__ = ("__weakref__", "_adapter")


class MidiBufferConsumer(  # type: ignore[misc]  # as MidiBufferProducer
    _ConsumerEnd, _core.ConsumerCore, metaclass=_NoPublicConstructor
):
    """The receiving end of a :func:`midi_buffer`. Create it with :func:`midi_buffer`.

    Owned by one thread at a time, typically the audio callback's. Its
    polling methods (``try_pop``, ``is_empty``, ``is_abandoned``,
    ``is_finished``) are real-time safe: no lock, no system call, no I/O,
    no allocation, O(1). ``try_pop`` and ``is_empty`` come from the core
    (see the module docstring).

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

    __slots__ = ("__weakref__", "_adapter")


def claim_end(end: _Endpoint, adapter: object) -> None:
    """Make *adapter* the one adapter of *end*; adapters call it when they wrap an end.

    The claim holds while *adapter* is alive and has not called
    :func:`release_end`. Call from the end's owning thread.

    Raises:
        EndpointInUseError: another adapter that is still alive holds *end*.
    """
    holder = None if end._adapter is None else end._adapter()
    if holder is not None and holder is not adapter:
        raise EndpointInUseError(
            f"this {type(end).__name__} already belongs to a {type(holder).__name__}: "
            "one adapter per end; close that one first"
        )
    end._adapter = weakref.ref(adapter)


def release_end(end: _Endpoint, adapter: object) -> None:
    """*adapter* lets go of *end* (it was closed). Idempotent; never raises."""
    if end._adapter is not None and end._adapter() is adapter:
        end._adapter = None
