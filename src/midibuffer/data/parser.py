"""``MidiParser``: complete messages out of a raw MIDI 1.0 byte stream.

For bytes from a serial port, network MIDI datagrams or a file, cut at
arbitrary points. The parser follows the MIDI 1.0 stream rules:

* **Running status.** A channel message may omit its status byte when it
  repeats the previous one. Any other status byte from 0x80 to 0xF7 cancels
  running status (system common messages, SysEx, and the undefined 0xF4,
  0xF5 and stray 0xF7 too).
* **Real-time bytes** (0xF8..0xFF) may appear anywhere, even inside SysEx or
  between the bytes of a channel message. They are emitted at once, in
  stream order, and disturb nothing; the undefined 0xF9 and 0xFD are skipped.
* **Garbage is skipped, never raised.** A data byte with no message to
  belong to, an undefined status byte, a message cut short by a new status
  byte, and a SysEx longer than
  :data:`~midibuffer.MAX_SYSEX_BYTES` are dropped and counted in
  :meth:`MidiParser.stats`, and parsing resumes at the next status byte.

Every message produced is valid by construction, so it is built without
being checked again. The lengths come from the table of
:mod:`midibuffer.data.message`, the one place that knows them.

``mido.Parser`` differs: it has no running status, a real-time byte outside
SysEx throws away the message in progress, and an undefined 0xF4/0xF5 is
ignored without interrupting the message in progress.
"""

from __future__ import annotations

from dataclasses import dataclass

from midibuffer.data.coerce import Data, as_bytes, checked_time
from midibuffer.data.message import MidiMessage
from midibuffer.data.spec import MAX_SYSEX_BYTES, SPECS, SYSEX_END, SYSEX_START

__all__ = ["MidiParser", "ParserStats"]


@dataclass(frozen=True, slots=True)
class ParserStats:
    """A snapshot of a :class:`MidiParser`'s counters: an immutable value, any thread.

    Attributes:
        messages: complete messages returned by ``feed`` so far.
        skipped_bytes: bytes that belonged to no message: data bytes with
            no status to apply to, undefined status bytes (0xF4, 0xF5, 0xF9,
            0xFD) and 0xF7 outside SysEx.
        truncated_messages: messages cut short by a status byte (other than
            real-time) before they were complete, SysEx included.
        oversized_sysex: SysEx messages discarded because they grew past
            :data:`~midibuffer.MAX_SYSEX_BYTES`.

    >>> parser = MidiParser()
    >>> _ = parser.feed(b"\\x3c\\x90\\x3c\\x80\\x3c\\x00")
    >>> parser.stats()
    ParserStats(messages=1, skipped_bytes=1, truncated_messages=1, oversized_sysex=0)
    """

    messages: int
    skipped_bytes: int
    truncated_messages: int
    oversized_sysex: int


class MidiParser:
    """Split a raw MIDI byte stream into :class:`~midibuffer.data.message.MidiMessage` objects.

    Owned by one thread: it keeps the stream's state between calls to
    :meth:`feed` and takes no lock, so two threads must not use it at the
    same time. Creating one never raises.

    >>> parser = MidiParser()
    >>> parser.feed(b"\\x90\\x3c")  # the note is not complete yet
    []
    >>> for message in parser.feed(b"\\x64\\x3e\\x64", time=1.0):  # running status
    ...     print(message)
    <MidiMessage note_on channel=0 note=60 velocity=100 time=1.0>
    <MidiMessage note_on channel=0 note=62 velocity=100 time=1.0>
    """

    __slots__ = (
        "_discarding",
        "_length",
        "_message",
        "_messages",
        "_oversized",
        "_running",
        "_skipped",
        "_truncated",
    )

    def __init__(self) -> None:
        self._message = bytearray()  # the message in progress, status byte first
        self._length = 0  # the length it will have when complete (0 for SysEx: variable)
        self._running = 0  # the running status byte, 0 for none
        self._discarding = False  # inside a SysEx that grew too long, until its end
        self._messages = self._skipped = self._truncated = self._oversized = 0

    def feed(self, data: Data, time: float | None = None) -> list[MidiMessage]:
        """Parse the next bytes of the stream; return the messages they complete.

        *data* is bytes-like or an iterable of ints. A message may start in
        one call and end in a later one; it is stamped with the *time* of
        the call that completes it, ``None`` by default. Invalid *streams*
        never raise: the parser skips what it cannot use, counts it in
        :meth:`stats` and resynchronises. Owning thread only.

        Raises:
            TypeError: *data* is not bytes-like or an iterable of ints, or
                *time* is not a number or ``None``.
            InvalidMidiMessage: an item of *data* is an int outside 0..255,
                which is not a byte at all (a :class:`ValueError`).
            ValueError: *time* is NaN or infinite.

        After an exception the parser is unchanged: no byte of that call was parsed.

        >>> parser = MidiParser()
        >>> parser.feed([0xF0, 0x01, 0xF8, 0x02])  # a clock inside a SysEx
        [<MidiMessage clock>]
        >>> parser.feed([0xF7])
        [<MidiMessage sysex length=4 data=F0 01 02 F7>]
        """
        stamp = checked_time(time)
        found: list[MidiMessage] = []
        message = self._message
        for byte in as_bytes(data):
            if byte >= 0xF8:  # real-time: out at once, whatever is in progress
                if byte in SPECS:
                    found.append(MidiMessage._trusted(bytes((byte,)), stamp))
                else:
                    self._skipped += 1  # undefined 0xF9 or 0xFD
            elif byte >= 0x80:
                self._status_byte(byte, found, stamp)
            elif message or self._running:
                if not message:  # running status: the status byte is implied
                    message.append(self._running)
                    self._length = SPECS[self._running].length
                message.append(byte)
                if len(message) == self._length:
                    found.append(MidiMessage._trusted(bytes(message), stamp))
                    message.clear()
                elif len(message) == MAX_SYSEX_BYTES:  # a SysEx with no room left for 0xF7
                    self._oversized += 1
                    self._discarding = True
                    message.clear()
            elif not self._discarding:
                self._skipped += 1  # a data byte that belongs to no message
        self._messages += len(found)
        return found

    def _status_byte(self, byte: int, found: list[MidiMessage], stamp: float | None) -> None:
        """Take a status byte 0x80..0xF7: it ends what was in progress, and running status."""
        message = self._message
        ends_sysex = byte == SYSEX_END and (self._discarding or message[:1] == b"\xf0")
        if message:
            if ends_sysex:
                message.append(byte)
                found.append(MidiMessage._trusted(bytes(message), stamp))
            else:
                self._truncated += 1
            message.clear()
        self._discarding = False
        self._running = 0
        if ends_sysex:
            return
        spec = SPECS.get(byte)
        if spec is None:
            self._skipped += 1  # undefined 0xF4 or 0xF5, or 0xF7 outside SysEx
        elif spec.length == 1:  # tune request
            found.append(MidiMessage._trusted(bytes((byte,)), stamp))
        else:
            message.append(byte)
            self._length = spec.length
            if byte < SYSEX_START:
                self._running = byte

    def reset(self) -> None:
        """Forget the message in progress and the running status; keep the counters.

        Use it when the stream restarts, such as after reopening a port. The
        forgotten partial message is not counted as truncated. Owning thread
        only; never raises.

        >>> parser = MidiParser()
        >>> parser.feed(b"\\x90\\x3c")
        []
        >>> parser.reset()
        >>> parser.feed(b"\\x64")  # no running status any more: skipped
        []
        >>> parser.stats().skipped_bytes
        1
        """
        self._message.clear()
        self._running = 0
        self._discarding = False

    def stats(self) -> ParserStats:
        """Return a snapshot of the counters since the parser was created.

        Owning thread only; never raises.

        >>> parser = MidiParser()
        >>> _ = parser.feed(b"\\xf4\\xf8")
        >>> parser.stats().skipped_bytes, parser.stats().messages
        (1, 1)
        """
        return ParserStats(self._messages, self._skipped, self._truncated, self._oversized)

    def __repr__(self) -> str:
        return f"<MidiParser {self.stats()}>"
