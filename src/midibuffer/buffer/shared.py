"""``shared_midi_buffer()``: the same buffer, with its two ends in two processes.

The ring lives in POSIX shared memory (``/dev/shm``, mode 0600, an
unguessable name) and is driven by the C core ``midibuffer.buffer._shared``:
indices are C11 atomics with acquire/release ordering on cache lines of their
own, an empty poll allocates nothing and makes no system call, and the
segment is treated as untrusted input. ``docs/design.md`` ("The shared
ring") explains the layout, the memory ordering, liveness and cleanup.

The ends have the methods, statistics and semantics of :func:`midi_buffer`'s
and every adapter takes them. Either end pickles to a process started with
the ``spawn`` or ``forkserver`` context (or is inherited over ``fork``) and
attaches there; from then on the original object raises
:class:`~midibuffer.EndpointInUseError`: one process per end.

>>> from midibuffer import MidiMessage
>>> producer, consumer = shared_midi_buffer(64)
>>> producer.try_send(MidiMessage.note_on(0, 60, 100, time=1.5))
True
>>> consumer.try_pop()
<MidiMessage note_on channel=0 note=60 velocity=100 time=1.5>
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NoReturn

from midibuffer.buffer.ends import (
    MidiBufferConsumer,
    MidiBufferProducer,
    _ConsumerEnd,
    _NoPublicConstructor,
    _ProducerEnd,
    checked_capacity,
)
from midibuffer.errors import MidiBufferError

if TYPE_CHECKING:
    from midibuffer.buffer import _shared
elif os.environ.get("MIDIBUFFER_PURE_PYTHON") == "1":
    _shared = None
else:
    try:
        from midibuffer.buffer import _shared
    except ImportError:  # not built: no C compiler, or not a POSIX system
        _shared = None

__all__ = [
    "AnyConsumer",
    "AnyProducer",
    "SharedMidiBufferConsumer",
    "SharedMidiBufferProducer",
    "not_an_end",
    "shared_midi_buffer",
]

if TYPE_CHECKING:
    from midibuffer.buffer._shared import ConsumerCore as _ConsumerCore
    from midibuffer.buffer._shared import ProducerCore as _ProducerCore
else:  # without the C core the classes exist, but shared_midi_buffer() refuses
    _ProducerCore = object if _shared is None else _shared.ProducerCore
    _ConsumerCore = object if _shared is None else _shared.ConsumerCore


def shared_midi_buffer(
    capacity: int,
) -> tuple[SharedMidiBufferProducer, SharedMidiBufferConsumer]:
    """Create a buffer of exactly *capacity* messages in shared memory; return its two ends.

    Give one end to another process (as an argument of a ``spawn`` or
    ``forkserver`` process, or over ``fork``). Messages of up to 8 bytes
    travel inside their slot; a longer SysEx (up to
    :data:`~midibuffer.MAX_SYSEX_BYTES`) also needs room in a 128 KiB SysEx
    area, and is dropped (counted) when there is none. Any thread.

    Raises:
        TypeError: *capacity* is not an integer (``bool`` is refused too).
        ValueError: *capacity* is less than 1 or more than
            :data:`~midibuffer.MAX_CAPACITY`.
        MidiBufferError: the C core is not built here (it needs a C compiler
            at install time and a POSIX system), or ``MIDIBUFFER_PURE_PYTHON=1``.
        OSError: the shared memory could not be created.

    >>> from midibuffer import MidiMessage
    >>> producer, consumer = shared_midi_buffer(2)
    >>> [producer.try_send(MidiMessage.clock()) for _ in range(3)]
    [True, True, False]
    >>> consumer.stats().dropped
    1
    """
    capacity = checked_capacity(capacity)
    if _shared is None:
        raise MidiBufferError(
            "shared_midi_buffer() needs midibuffer's C core, which is not available here "
            "(it is built at install time with a C compiler on a POSIX system; "
            "MIDIBUFFER_PURE_PYTHON=1 turns it off): use midi_buffer() within one process"
        )
    ring = _shared.SharedRing(capacity)
    return SharedMidiBufferProducer._create(ring), SharedMidiBufferConsumer._create(ring)


def _attach(name: str, kind: int) -> SharedMidiBufferProducer | SharedMidiBufferConsumer:
    """Unpickle an end: map the segment *name* in this process and take side *kind*."""
    if _shared is None:
        raise MidiBufferError("this process has no C core to attach a shared buffer's end")
    ring = _shared.attach(name, kind)
    if kind == _shared.PRODUCER:
        return SharedMidiBufferProducer._create(ring)
    return SharedMidiBufferConsumer._create(ring)


class _Movable:
    """Pickling moves the end to the process that unpickles it. Not public."""

    __slots__ = ()

    if TYPE_CHECKING:

        def _move(self) -> tuple[str, int]: ...

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return (_attach, self._move())

    def __copy__(self) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} is unique: it cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        self.__copy__()


class SharedMidiBufferProducer(  # type: ignore[misc]  # _ring: as MidiBufferProducer
    _Movable, _ProducerEnd, _ProducerCore, metaclass=_NoPublicConstructor
):
    """The sending end of a :func:`shared_midi_buffer`, usable in one process at a time.

    Everything :class:`~midibuffer.MidiBufferProducer` has, with the same
    rules; ``try_send`` copies the message into shared memory. Pickling it
    for another process moves it there (see the module documentation).
    ``is_abandoned()`` also becomes true within about 60 ms of the
    consumer's process dying, even by ``SIGKILL``.
    """

    __slots__ = ("__weakref__", "_adapter")


class SharedMidiBufferConsumer(  # type: ignore[misc]  # _ring: as MidiBufferProducer
    _Movable, _ConsumerEnd, _ConsumerCore, metaclass=_NoPublicConstructor
):
    """The receiving end of a :func:`shared_midi_buffer`, usable in one process at a time.

    Everything :class:`~midibuffer.MidiBufferConsumer` has, with the same
    rules: ``try_pop``, ``is_empty``, ``is_abandoned`` and ``is_finished``
    take no lock and make no system call, and an empty poll creates no
    object. A popped message is built from the shared bytes (a message, its
    bytes and its time: three small objects). If the producer's process
    dies, the messages it sent can still be popped, then ``is_finished()``
    is true.
    """

    __slots__ = ("__weakref__", "_adapter")


def not_an_end(name: str, value: object) -> TypeError:
    """The error an adapter raises when its argument *name* is not a buffer end."""
    kind = "Producer" if name == "producer" else "Consumer"
    return TypeError(
        f"{name} must be a MidiBuffer{kind} or SharedMidiBuffer{kind} (from midi_buffer() "
        f"or shared_midi_buffer()), not {type(value).__name__}"
    )


AnyProducer = MidiBufferProducer | SharedMidiBufferProducer
"""Either kind of producer: what the adapters accept."""

AnyConsumer = MidiBufferConsumer | SharedMidiBufferConsumer
"""Either kind of consumer: what the adapters accept."""
