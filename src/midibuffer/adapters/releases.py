"""No hanging notes: a producer wrapper that never drops a message ending a sound.

When a buffer is full, dropping a note-on loses one note, but dropping its
note-off leaves that note sounding for ever. :class:`ReleaseKeeper` sends
through a producer with ``try_send``; when the buffer refuses a *release*
(see :func:`release_key`), it keeps it in a small store allocated once,
and sends what it keeps first, in the order kept, as soon as there is room.
Anything else the buffer refuses is dropped and counted. Used by
:class:`~midibuffer.rtmidi.MidiInput`; usable by any single producer thread.
"""

from __future__ import annotations

from array import array

from midibuffer.buffer.shared import AnyProducer
from midibuffer.data.message import MidiMessage
from midibuffer.errors import ClosedEndpointError

__all__ = ["RELEASE_CONTROLS", "RELEASE_KEYS", "ReleaseKeeper", "release_key"]

RELEASE_CONTROLS = (64, 120, 121, 123, 124, 125, 126, 127)
"""Control changes that end sounds: sustain pedal (released: value < 64), all
sound off, reset all controllers, all notes off, and the four mode messages
(omni off/on, mono, poly), which imply all notes off."""

_SUSTAIN = 64
_NOTES = 128
_KEYS_PER_CHANNEL = _NOTES + len(RELEASE_CONTROLS)
RELEASE_KEYS = 16 * _KEYS_PER_CHANNEL
"""How many different releases there are (keys 0 to ``RELEASE_KEYS - 1``)."""

_CONTROL_INDEX = bytes(
    _NOTES + RELEASE_CONTROLS.index(control) if control in RELEASE_CONTROLS else 0
    for control in range(128)
)


def release_key(message: MidiMessage) -> int:
    """The key of a release, or -1 if *message* ends no sound. Any thread.

    A release is a note-off, a note-on with velocity 0, or one of
    :data:`RELEASE_CONTROLS` (the sustain pedal only when released). Two
    releases share a key when they end the same thing: the same note on
    the same channel, or the same controller on the same channel.

    >>> release_key(MidiMessage.note_off(1, 60)) == release_key(MidiMessage.note_on(1, 60, 0))
    True
    >>> pedal_down = MidiMessage.control_change(0, 64, 127)
    >>> release_key(MidiMessage.note_on(1, 60, 100)), release_key(pedal_down)
    (-1, -1)
    """
    data = message.data
    kind = data[0] & 0xF0
    base = (data[0] & 0x0F) * _KEYS_PER_CHANNEL
    if kind == 0x80 or (kind == 0x90 and data[2] == 0):
        return base + data[1]
    if kind == 0xB0:
        index = _CONTROL_INDEX[data[1]]
        if index and (data[1] != _SUSTAIN or data[2] < 64):
            return base + index
    return -1


class ReleaseKeeper:
    """Sends through *producer*; keeps the releases a full buffer refuses and sends them first.

    :meth:`send` returns ``SENT``, ``HELD`` or ``DROPPED``. While releases
    are held, every later message waits behind them: :meth:`send` first
    tries :meth:`flush`, so nothing overtakes a held release. The store is
    one slot per :func:`release_key`, allocated here, plus a FIFO ring of
    the keys held: a release whose key is already held is counted against
    that slot, and sent again as a copy of the first one (same bytes and
    time) right after it. So held releases reach the buffer grouped by key,
    in the order their keys were first held; the store can never overflow,
    and no release is ever dropped while the consumer is there. When the
    consumer has closed, nothing can be sent: everything, held releases
    included, is dropped.

    The counters (:attr:`sent`, :attr:`held`, :attr:`dropped`,
    :attr:`pending`) are written by the sending thread only. A reader on
    another thread that reads ``sent`` and ``dropped`` before ``pending``
    never counts a message twice: a held release leaves ``pending`` before
    it is counted as sent or dropped.

    Call :meth:`send`, :meth:`flush` and :meth:`discard` from the producer's
    thread only. They never block.

    >>> from midibuffer import midi_buffer
    >>> producer, consumer = midi_buffer(1)
    >>> keeper = ReleaseKeeper(producer)
    >>> [keeper.send(m) for m in (MidiMessage.note_on(0, 60), MidiMessage.note_on(0, 62),
    ...                           MidiMessage.note_off(0, 60))] == [
    ...     ReleaseKeeper.SENT, ReleaseKeeper.DROPPED, ReleaseKeeper.HELD]
    True
    >>> consumer.try_pop().kind, keeper.flush(), consumer.try_pop().kind, keeper.pending
    ('note_on', True, 'note_off', 0)
    """

    SENT = 0
    HELD = 1
    DROPPED = 2

    __slots__ = (
        "_counts",
        "_head",
        "_kept",
        "_messages",
        "_order",
        "_producer",
        "dropped",
        "held",
        "pending",
        "sent",
    )

    def __init__(self, producer: AnyProducer) -> None:
        self._producer = producer
        self._messages: list[MidiMessage | None] = [None] * RELEASE_KEYS
        self._counts = array("L", bytes(array("L").itemsize * RELEASE_KEYS))
        self._order = array("H", bytes(2 * RELEASE_KEYS))  # a FIFO ring of held keys
        self._head = 0
        self._kept = 0  # keys in the ring
        self.sent = 0
        """Messages put into the buffer, held releases included once sent."""
        self.held = 0
        """Releases that found the buffer full and were kept (cumulative)."""
        self.dropped = 0
        """Messages refused and not kept (held releases too, if the consumer left)."""
        self.pending = 0
        """Held releases not sent yet."""

    def send(self, message: MidiMessage) -> int:
        """Send *message*, or keep it if it is a release, or drop it; say which.

        Raises:
            ClosedEndpointError: the producer was closed (what was held is
                dropped; *message* is not counted).
        """
        if (self._kept == 0 or self.flush()) and self._producer.try_send(message):
            self.sent += 1
            return self.SENT
        key = release_key(message)
        if key < 0 or self._producer.is_abandoned():
            self.dropped += 1
            self._drop_held_if_abandoned()
            return self.DROPPED
        if self._counts[key] == 0:
            self._messages[key] = message
            self._order[(self._head + self._kept) % RELEASE_KEYS] = key
            self._kept += 1
        self._counts[key] += 1
        self.pending += 1
        self.held += 1
        return self.HELD

    def flush(self) -> bool:
        """Send the held releases that fit; ``True`` when none is left.

        Never raises: if the producer was closed, what is held is dropped.
        """
        try:
            return self._flush()
        except ClosedEndpointError:
            self.discard()
            return True

    def _flush(self) -> bool:
        producer = self._producer
        while self._kept:
            key = self._order[self._head]
            message = self._messages[key]
            assert message is not None  # a key in the ring has its message
            while self._counts[key]:
                if not producer.try_send(message):
                    self._drop_held_if_abandoned()
                    return self._kept == 0
                self._counts[key] -= 1
                self.pending -= 1
                self.sent += 1
            self._messages[key] = None
            self._head = (self._head + 1) % RELEASE_KEYS
            self._kept -= 1
        return True

    def discard(self) -> None:
        """Count every held release as dropped and forget it (the stream ends)."""
        while self._kept:
            key = self._order[self._head]
            count = self._counts[key]
            self._counts[key] = 0
            self._messages[key] = None
            self.pending -= count
            self.dropped += count
            self._head = (self._head + 1) % RELEASE_KEYS
            self._kept -= 1

    def _drop_held_if_abandoned(self) -> None:
        """Once the consumer is gone nothing can be sent: drop what is held."""
        if self._kept and self._producer.is_abandoned():
            self.discard()
