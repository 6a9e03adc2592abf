"""``MidiMessage``: one complete, valid MIDI 1.0 message as an immutable value.

A message is its bytes (status byte first) plus an optional timestamp. It is
validated once, when it is built, so everything downstream (the buffer, the
audio callback) can trust it. ``docs/messages.md`` describes the rules.

Every accept/reject decision agrees with ``mido.Message.from_bytes`` except:

* **Extra trailing bytes are rejected.** mido silently drops the bytes after
  a complete pitchwheel, quarter frame or song position message
  (``E0 01 02 03`` becomes ``E0 01 02``). Dropping bytes is data loss, so
  here every kind must have exactly its length.
* **SysEx is limited** to :data:`MAX_SYSEX_BYTES`; mido has no limit.
* **Items must be ints, not bools.** mido takes ``True`` as the data byte 1;
  here a ``bool`` item is a :class:`TypeError`, like a ``str`` or ``float``.

mido also raises :class:`IndexError` instead of :class:`ValueError` for a
pitchwheel, quarter frame or song position message that is too short; both
reject it. Kinds use mido's type names, so :meth:`MidiMessage.to_mido` and
:meth:`MidiMessage.from_mido` convert exactly.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn, final

from midibuffer.data.coerce import (
    Data,
    as_bytes,
    checked_field,
    checked_time,
    data_byte,
)
from midibuffer.data.spec import MAX_SYSEX_BYTES, SPECS, SYSEX_START, VARIABLE, validate

if TYPE_CHECKING:
    import mido  # untyped: see the mypy overrides in pyproject.toml

__all__ = ["MAX_SYSEX_BYTES", "MidiMessage"]


@final
class MidiMessage:
    """One complete, valid MIDI 1.0 message: an immutable value, usable from any thread.

    ``MidiMessage(data, *, time=None)`` validates *data*: bytes-like
    (``bytes``, ``bytearray``, ``memoryview``) or an iterable of ints, status
    byte first. *time* is a timestamp in seconds on :func:`time.perf_counter`'s
    clock, or ``None``; an ``int`` is stored as a ``float``.

    Raises:
        InvalidMidiMessage: *data* is not exactly one valid message; the text
            names the offending byte in hex and its position.
        TypeError: *data* is not bytes-like or iterable (a ``str`` is
            refused), an item is not an int (``bool`` included), or *time*
            is not an int, float or ``None``.
        ValueError: *time* is NaN or infinite.

    >>> message = MidiMessage([0x90, 60, 100])
    >>> message
    <MidiMessage note_on channel=0 note=60 velocity=100>
    >>> message.kind, message.channel, message.note, message.velocity
    ('note_on', 0, 60, 100)
    >>> bytes(message) == b"\\x90\\x3c\\x64" == MidiMessage.note_on(0, 60, 100).data
    True
    >>> MidiMessage([0x90, 60, 128])
    Traceback (most recent call last):
    ...
    midibuffer.errors.InvalidMidiMessage: note_on data byte 0x80 at position 2 is > 0x7F
    """

    __slots__ = ("_data", "_time")
    _data: bytes
    _time: float | None

    def __new__(cls, data: Data, *, time: float | None = None) -> MidiMessage:
        if type(data) is not bytes:
            data = as_bytes(data)
        validate(data)
        return cls._trusted(data, time if time is None else checked_time(time))

    @classmethod
    def _trusted(cls, data: bytes, time: float | None) -> MidiMessage:
        """Wrap *data* and *time* without checking them: for producers of valid messages."""
        message = _new_object(cls)
        _set_data(message, data)
        _set_time(message, time)
        return message

    # --- named constructors -------------------------------------------------------------

    @classmethod
    def note_on(
        cls, channel: int, note: int, velocity: int = 64, *, time: float | None = None
    ) -> MidiMessage:
        """Build a note on. Any thread.

        Raises:
            InvalidMidiMessage: *channel* is not in 0..15, or *note* or
                *velocity* not in 0..127; the text names the argument.
            TypeError: an argument is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.note_on(9, 36, 127)
        <MidiMessage note_on channel=9 note=36 velocity=127>
        """
        return cls._channel_voice(
            0x90, channel, time, data_byte("note", note), data_byte("velocity", velocity)
        )

    @classmethod
    def note_off(
        cls, channel: int, note: int, velocity: int = 0, *, time: float | None = None
    ) -> MidiMessage:
        """Build a note off. Any thread.

        Raises:
            InvalidMidiMessage: *channel* is not in 0..15, or *note* or
                *velocity* not in 0..127; the text names the argument.
            TypeError: an argument is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.note_off(0, 60)
        <MidiMessage note_off channel=0 note=60 velocity=0>
        """
        return cls._channel_voice(
            0x80, channel, time, data_byte("note", note), data_byte("velocity", velocity)
        )

    @classmethod
    def polytouch(
        cls, channel: int, note: int, value: int, *, time: float | None = None
    ) -> MidiMessage:
        """Build a polyphonic key pressure message. Any thread.

        Raises:
            InvalidMidiMessage: *channel* is not in 0..15, or *note* or
                *value* not in 0..127; the text names the argument.
            TypeError: an argument is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.polytouch(0, 60, 33)
        <MidiMessage polytouch channel=0 note=60 value=33>
        """
        return cls._channel_voice(
            0xA0, channel, time, data_byte("note", note), data_byte("value", value)
        )

    @classmethod
    def control_change(
        cls, channel: int, control: int, value: int, *, time: float | None = None
    ) -> MidiMessage:
        """Build a control change. Any thread.

        Raises:
            InvalidMidiMessage: *channel* is not in 0..15, or *control* or
                *value* not in 0..127; the text names the argument.
            TypeError: an argument is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.control_change(0, 7, 100)
        <MidiMessage control_change channel=0 control=7 value=100>
        """
        return cls._channel_voice(
            0xB0, channel, time, data_byte("control", control), data_byte("value", value)
        )

    @classmethod
    def program_change(
        cls, channel: int, program: int, *, time: float | None = None
    ) -> MidiMessage:
        """Build a program change. Any thread.

        Raises:
            InvalidMidiMessage: *channel* is not in 0..15 or *program* not
                in 0..127; the text names the argument.
            TypeError: an argument is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.program_change(3, 12)
        <MidiMessage program_change channel=3 program=12>
        """
        return cls._channel_voice(0xC0, channel, time, data_byte("program", program))

    @classmethod
    def aftertouch(cls, channel: int, value: int, *, time: float | None = None) -> MidiMessage:
        """Build a channel pressure (aftertouch) message. Any thread.

        Raises:
            InvalidMidiMessage: *channel* is not in 0..15 or *value* not in
                0..127; the text names the argument.
            TypeError: an argument is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.aftertouch(0, 90)
        <MidiMessage aftertouch channel=0 value=90>
        """
        return cls._channel_voice(0xD0, channel, time, data_byte("value", value))

    @classmethod
    def pitchwheel(cls, channel: int, pitch: int, *, time: float | None = None) -> MidiMessage:
        """Build a pitch bend; *pitch* is signed like mido's: -8192..8191, 0 is centre.

        Any thread.

        Raises:
            InvalidMidiMessage: *channel* is not in 0..15 or *pitch* not in
                -8192..8191; the text names the argument.
            TypeError: an argument is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.pitchwheel(0, -8192).data.hex(" ")
        'e0 00 00'
        """
        unsigned = checked_field("pitch", pitch, -8192, 8191) + 8192
        return cls._channel_voice(0xE0, channel, time, unsigned & 0x7F, unsigned >> 7)

    @classmethod
    def _channel_voice(
        cls, status: int, channel: int, time: float | None, *data_bytes: int
    ) -> MidiMessage:
        """Build a channel voice message from already checked data bytes."""
        status |= checked_field("channel", channel, 0, 15)
        return cls._trusted(bytes((status, *data_bytes)), checked_time(time))

    @classmethod
    def sysex(cls, payload: Data, *, time: float | None = None) -> MidiMessage:
        """Build a SysEx message around *payload*, the bytes between 0xF0 and 0xF7.

        Any thread. The message is ``len(payload) + 2`` bytes long.

        Raises:
            InvalidMidiMessage: a payload byte is > 0x7F (positions count
                the 0xF0, so the first payload byte is at position 1), or
                the message would be longer than :data:`MAX_SYSEX_BYTES`.
            TypeError, ValueError: as for ``MidiMessage(data)``.

        >>> MidiMessage.sysex([0x7E, 0x7F, 0x06, 0x01])
        <MidiMessage sysex length=6 data=F0 7E 7F 06 01 F7>
        """
        return cls(b"\xf0" + as_bytes(payload) + b"\xf7", time=time)

    @classmethod
    def quarter_frame(
        cls, frame_type: int, frame_value: int, *, time: float | None = None
    ) -> MidiMessage:
        """Build an MTC quarter frame: *frame_type* 0..7, *frame_value* 0..15. Any thread.

        Raises:
            InvalidMidiMessage: an argument is out of range; the text names it.
            TypeError: an argument is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.quarter_frame(7, 3)
        <MidiMessage quarter_frame frame_type=7 frame_value=3>
        """
        frame_type = checked_field("frame_type", frame_type, 0, 7)
        frame_value = checked_field("frame_value", frame_value, 0, 15)
        return cls._trusted(bytes((0xF1, frame_type << 4 | frame_value)), checked_time(time))

    @classmethod
    def songpos(cls, pos: int, *, time: float | None = None) -> MidiMessage:
        """Build a song position pointer; *pos* counts sixteenth notes, 0..16383. Any thread.

        Raises:
            InvalidMidiMessage: *pos* is out of range; the text names it.
            TypeError: *pos* is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.songpos(300).data.hex(" ")
        'f2 2c 02'
        """
        pos = checked_field("pos", pos, 0, 0x3FFF)
        return cls._trusted(bytes((0xF2, pos & 0x7F, pos >> 7)), checked_time(time))

    @classmethod
    def song_select(cls, song: int, *, time: float | None = None) -> MidiMessage:
        """Build a song select, *song* 0..127. Any thread.

        Raises:
            InvalidMidiMessage: *song* is out of range; the text names it.
            TypeError: *song* is not an int, or *time* is not a number.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.song_select(5)
        <MidiMessage song_select song=5>
        """
        return cls._trusted(bytes((0xF3, data_byte("song", song))), checked_time(time))

    @classmethod
    def clock(cls, *, time: float | None = None) -> MidiMessage:
        """Build a timing clock (0xF8), 24 per quarter note. Any thread.

        The other single-byte messages are ``MidiMessage(b"\\xf6")`` (tune
        request), ``b"\\xfe"`` (active sensing) and ``b"\\xff"`` (reset).

        Raises:
            TypeError: *time* is not an int, float or ``None``.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.clock(time=1.5)
        <MidiMessage clock time=1.5>
        """
        return cls._trusted(b"\xf8", checked_time(time))

    @classmethod
    def start(cls, *, time: float | None = None) -> MidiMessage:
        """Build a start (0xFA). Any thread.

        Raises:
            TypeError: *time* is not an int, float or ``None``.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.start().kind
        'start'
        """
        return cls._trusted(b"\xfa", checked_time(time))

    @classmethod
    def continue_(cls, *, time: float | None = None) -> MidiMessage:
        """Build a continue (0xFB); the trailing underscore avoids the keyword. Any thread.

        Raises:
            TypeError: *time* is not an int, float or ``None``.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.continue_().kind
        'continue'
        """
        return cls._trusted(b"\xfb", checked_time(time))

    @classmethod
    def stop(cls, *, time: float | None = None) -> MidiMessage:
        """Build a stop (0xFC). Any thread.

        Raises:
            TypeError: *time* is not an int, float or ``None``.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.stop().kind
        'stop'
        """
        return cls._trusted(b"\xfc", checked_time(time))

    # --- mido ----------------------------------------------------------------------------

    @classmethod
    def from_mido(cls, message: mido.Message, *, time: float | None = None) -> MidiMessage:
        """Convert a ``mido.Message``; *time* is the new message's timestamp. Any thread.

        mido's own ``time`` is not carried over: it is a delta in ticks or
        seconds whose meaning depends on where the message came from, not a
        :func:`time.perf_counter` timestamp.

        Raises:
            ImportError: mido is not installed (``pip install mido``).
            TypeError: *message* is not a ``mido.Message`` (a
                ``MetaMessage`` is not MIDI data), or *time* is not a number.
            ValueError: *time* is NaN or infinite.
            InvalidMidiMessage: *message* was built with ``skip_checks``
                and is invalid, or is a SysEx over :data:`MAX_SYSEX_BYTES`.

        >>> import mido
        >>> MidiMessage.from_mido(mido.Message("note_on", note=60, time=0.25))
        <MidiMessage note_on channel=0 note=60 velocity=64>
        """
        if not isinstance(message, _import_mido().Message):
            raise TypeError(f"from_mido() takes a mido.Message, not {type(message).__name__}")
        return cls(message.bytes(), time=time)

    def to_mido(self) -> mido.Message:
        """Return an equal ``mido.Message``, with mido's default ``time`` of 0. Any thread.

        Raises:
            ImportError: mido is not installed (``pip install mido``).

        >>> MidiMessage.pitchwheel(1, -100).to_mido()
        Message('pitchwheel', channel=1, pitch=-100, time=0)
        """
        return _import_mido().Message.from_bytes(self._data)

    # --- the bytes -----------------------------------------------------------------------

    @property
    def data(self) -> bytes:
        """All the bytes of the message, status byte first. Any thread.

        >>> MidiMessage.note_on(0, 60, 100).data
        b'\\x90<d'
        """
        return self._data

    @property
    def time(self) -> float | None:
        """The timestamp in seconds on :func:`time.perf_counter`'s clock, or ``None``.

        Any thread.

        >>> MidiMessage.clock().time is None, MidiMessage.clock(time=2).time
        (True, 2.0)
        """
        return self._time

    def with_time(self, time: float | None) -> MidiMessage:
        """Return a copy of this message with another timestamp. Any thread.

        Raises:
            TypeError: *time* is not an int, float or ``None``.
            ValueError: *time* is NaN or infinite.

        >>> MidiMessage.start().with_time(12.5)
        <MidiMessage start time=12.5>
        """
        return MidiMessage._trusted(self._data, checked_time(time))

    def __bytes__(self) -> bytes:
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[int]:
        return iter(self._data)

    # --- what the bytes mean -------------------------------------------------------------

    @property
    def status(self) -> int:
        """The status byte, 0x80..0xFF. Any thread.

        >>> hex(MidiMessage.note_on(3, 60).status)
        '0x93'
        """
        return self._data[0]

    @property
    def kind(self) -> str:
        """mido's name for the kind of message, such as ``'note_on'`` or ``'sysex'``. Any thread.

        >>> MidiMessage(b"\\xb0\\x07\\x64").kind
        'control_change'
        """
        return SPECS[self._data[0]].kind

    @property
    def channel(self) -> int | None:
        """The channel, 0..15, or ``None`` for a system message. Any thread.

        >>> MidiMessage.note_on(15, 60).channel, MidiMessage.clock().channel
        (15, None)
        """
        status = self._data[0]
        return status & 0x0F if status < 0xF0 else None

    @property
    def is_system(self) -> bool:
        """Whether this is a system message (status 0xF0..0xFF, no channel). Any thread.

        >>> MidiMessage.songpos(0).is_system, MidiMessage.note_on(0, 60).is_system
        (True, False)
        """
        return self._data[0] >= 0xF0

    @property
    def is_realtime(self) -> bool:
        """Whether this is a system real-time message (status 0xF8..0xFF). Any thread.

        Unlike mido's ``is_realtime``, a tune request (0xF6) is not real-time.

        >>> MidiMessage.clock().is_realtime, MidiMessage(b"\\xf6").is_realtime
        (True, False)
        """
        return self._data[0] >= 0xF8

    @property
    def data1(self) -> int | None:
        """The first data byte, or ``None`` if this kind has none (SysEx has none). Any thread.

        >>> MidiMessage.note_on(0, 60, 100).data1, MidiMessage.stop().data1
        (60, None)
        """
        return self._data[1] if SPECS[self._data[0]].length >= 2 else None

    @property
    def data2(self) -> int | None:
        """The second data byte, or ``None`` if this kind has none. Any thread.

        >>> MidiMessage.note_on(0, 60, 100).data2, MidiMessage.program_change(0, 1).data2
        (100, None)
        """
        return self._data[2] if SPECS[self._data[0]].length == 3 else None

    def _field(self, name: str) -> int:
        """Return the byte holding field *name*; AttributeError if this kind has none."""
        spec = SPECS[self._data[0]]
        index = spec.fields.get(name)
        if index is None:
            raise AttributeError(f"{spec.kind} has no field {name!r}")
        return self._data[index]

    @property
    def note(self) -> int:
        """The note number, 0..127. Any thread.

        Raises:
            AttributeError: not a note_on, note_off or polytouch (so
                ``hasattr(message, "note")`` tells whether it has one).

        >>> MidiMessage.note_off(0, 64).note
        64
        >>> MidiMessage.control_change(0, 7, 1).note
        Traceback (most recent call last):
        ...
        AttributeError: control_change has no field 'note'
        """
        return self._field("note")

    @property
    def velocity(self) -> int:
        """The velocity, 0..127. Any thread.

        Raises:
            AttributeError: not a note_on or note_off.

        >>> MidiMessage.note_on(0, 60, 99).velocity
        99
        """
        return self._field("velocity")

    @property
    def control(self) -> int:
        """The controller number, 0..127. Any thread.

        Raises:
            AttributeError: not a control_change.

        >>> MidiMessage.control_change(0, 64, 127).control
        64
        """
        return self._field("control")

    @property
    def value(self) -> int:
        """The value, 0..127, of a control_change, polytouch or aftertouch. Any thread.

        Raises:
            AttributeError: another kind (a pitchwheel has ``pitch``).

        >>> MidiMessage.aftertouch(0, 42).value
        42
        """
        return self._field("value")

    @property
    def program(self) -> int:
        """The program number, 0..127. Any thread.

        Raises:
            AttributeError: not a program_change.

        >>> MidiMessage.program_change(0, 5).program
        5
        """
        return self._field("program")

    @property
    def pitch(self) -> int:
        """The pitch bend, signed like mido's: -8192..8191, 0 is centre. Any thread.

        Raises:
            AttributeError: not a pitchwheel.

        >>> MidiMessage(b"\\xe0\\x00\\x40").pitch
        0
        """
        return (self._field("pitch") | self._data[2] << 7) - 8192

    @property
    def pos(self) -> int:
        """The song position in sixteenth notes, 0..16383. Any thread.

        Raises:
            AttributeError: not a songpos.

        >>> MidiMessage(b"\\xf2\\x00\\x01").pos
        128
        """
        return self._field("pos") | self._data[2] << 7

    @property
    def song(self) -> int:
        """The song number, 0..127. Any thread.

        Raises:
            AttributeError: not a song_select.

        >>> MidiMessage.song_select(9).song
        9
        """
        return self._field("song")

    @property
    def frame_type(self) -> int:
        """Which MTC time field a quarter frame carries, 0..7. Any thread.

        Raises:
            AttributeError: not a quarter_frame.

        >>> MidiMessage(b"\\xf1\\x73").frame_type
        7
        """
        return self._field("frame_type") >> 4

    @property
    def frame_value(self) -> int:
        """The 4-bit value a quarter frame carries, 0..15. Any thread.

        Raises:
            AttributeError: not a quarter_frame.

        >>> MidiMessage(b"\\xf1\\x73").frame_value
        3
        """
        return self._field("frame_value") & 0x0F

    @property
    def payload(self) -> bytes:
        """The bytes of a SysEx message between its 0xF0 and 0xF7. Any thread.

        Raises:
            AttributeError: not a sysex.

        >>> MidiMessage(b"\\xf0\\x01\\x02\\xf7").payload
        b'\\x01\\x02'
        """
        if self._data[0] != SYSEX_START:
            raise AttributeError(f"{self.kind} has no field 'payload'")
        return self._data[1:-1]

    # --- value semantics -----------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MidiMessage):
            return NotImplemented
        return self._data == other._data and self._time == other._time

    def __hash__(self) -> int:
        return hash((self._data, self._time))

    def __repr__(self) -> str:
        spec = SPECS[self._data[0]]
        parts = [spec.kind]
        if self._data[0] < 0xF0:
            parts.append(f"channel={self.channel}")
        parts.extend(f"{name}={getattr(self, name)}" for name in spec.fields)
        if spec.length == VARIABLE:
            shown = self._data[:8].hex(" ").upper() + (" ..." if len(self._data) > 8 else "")
            parts.append(f"length={len(self._data)} data={shown}")
        if self._time is not None:
            parts.append(f"time={self._time!r}")
        return f"<MidiMessage {' '.join(parts)}>"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(
            f"MidiMessage is immutable: cannot set {name!r} (with_time() makes a retimed copy)"
        )

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"MidiMessage is immutable; cannot delete {name!r}")

    def __init_subclass__(cls, **kwargs: object) -> NoReturn:
        """MidiMessage is final: its invariants live in its constructor."""
        raise TypeError("MidiMessage is final: it cannot be subclassed (wrap it instead)")

    def __reduce__(self) -> tuple[object, tuple[bytes, float | None]]:
        # Unpickling goes through the full validation, like the constructor:
        # a pickle built by hand cannot make an invalid message.
        return (_unpickle, (self._data, self._time))


def _unpickle(data: bytes, time: float | None) -> MidiMessage:
    """Rebuild a pickled message, validating it exactly like ``MidiMessage(data, time=time)``."""
    return MidiMessage(data, time=time)


_new_object = object.__new__
# The slots' own setters: MidiMessage.__setattr__ refuses every assignment.
_set_data = MidiMessage.__dict__["_data"].__set__
_set_time = MidiMessage.__dict__["_time"].__set__


def _import_mido() -> ModuleType:
    """Import mido on first use only: importing midibuffer must not import it."""
    try:
        return importlib.import_module("mido")
    except ImportError as error:
        raise ImportError("converting to or from mido needs mido: pip install mido") from error
