"""The MIDI 1.0 specification as data: status bytes, message lengths, kinds, fields.

:data:`SPECS` maps every defined status byte to its :class:`Spec` (mido's
kind name, the length in bytes, which byte holds which field);
:func:`validate` is the one rule that decides whether bytes are one valid
message. :class:`~midibuffer.MidiMessage` and the
:class:`~midibuffer.MidiParser` both build on it.

>>> SPECS[0x93].kind, SPECS[0x93].length, SPECS[0x93].fields
('note_on', 3, {'note': 1, 'velocity': 2})
>>> validate(bytes([0x90, 60, 200]))
Traceback (most recent call last):
    ...
midibuffer.errors.InvalidMidiMessage: note_on data byte 0xC8 at position 2 is > 0x7F
"""

from __future__ import annotations

from typing import NamedTuple

from midibuffer.errors import InvalidMidiMessage

__all__ = ["MAX_SYSEX_BYTES", "SPECS", "SYSEX_END", "SYSEX_START", "VARIABLE", "Spec", "validate"]

MAX_SYSEX_BYTES = 65_536
"""The longest SysEx message accepted, in bytes, counting the 0xF0 and 0xF7 (64 KiB).

A message this long takes 21 seconds on a MIDI 1.0 cable (3,125 bytes a
second), so devices split longer dumps into several messages. The limit
bounds the memory a stream that lost its final 0xF7 can make the parser
hold.
"""

SYSEX_START = 0xF0
SYSEX_END = 0xF7
VARIABLE = 0  # the length of a SysEx message: not fixed


class Spec(NamedTuple):
    """What a status byte says about its message."""

    kind: str  # mido's type name
    length: int  # total bytes, status byte included; VARIABLE for SysEx
    fields: dict[str, int]  # named field -> index of the byte holding it


def _specs() -> dict[int, Spec]:
    """Build the one table of MIDI 1.0 status bytes; undefined ones are absent."""
    channel_voice = {
        0x80: Spec("note_off", 3, {"note": 1, "velocity": 2}),
        0x90: Spec("note_on", 3, {"note": 1, "velocity": 2}),
        0xA0: Spec("polytouch", 3, {"note": 1, "value": 2}),
        0xB0: Spec("control_change", 3, {"control": 1, "value": 2}),
        0xC0: Spec("program_change", 2, {"program": 1}),
        0xD0: Spec("aftertouch", 2, {"value": 1}),
        0xE0: Spec("pitchwheel", 3, {"pitch": 1}),
    }
    system = {
        0xF0: Spec("sysex", VARIABLE, {}),
        0xF1: Spec("quarter_frame", 2, {"frame_type": 1, "frame_value": 1}),
        0xF2: Spec("songpos", 3, {"pos": 1}),
        0xF3: Spec("song_select", 2, {"song": 1}),
        0xF6: Spec("tune_request", 1, {}),
        0xF8: Spec("clock", 1, {}),
        0xFA: Spec("start", 1, {}),
        0xFB: Spec("continue", 1, {}),
        0xFC: Spec("stop", 1, {}),
        0xFE: Spec("active_sensing", 1, {}),
        0xFF: Spec("reset", 1, {}),
    }
    table = {
        status | channel: spec for status, spec in channel_voice.items() for channel in range(16)
    }
    return table | system


SPECS = _specs()
"""Status byte -> its spec, for every defined status byte. Used by the parser too."""


def validate(data: bytes) -> None:
    """Raise :class:`InvalidMidiMessage` unless *data* is exactly one valid message."""
    if not data:
        raise InvalidMidiMessage("empty message: a MIDI message starts with a status byte")
    status = data[0]
    spec = SPECS.get(status)
    if spec is None:
        raise InvalidMidiMessage(f"{_not_a_status(status)} at position 0")
    length = len(data)
    if spec.length != VARIABLE:
        if length != spec.length:
            raise _wrong_length(spec, data)
        end = length
    else:
        if length > MAX_SYSEX_BYTES:
            raise InvalidMidiMessage(
                f"sysex of {length} bytes is over MAX_SYSEX_BYTES ({MAX_SYSEX_BYTES})"
            )
        if length < 2 or data[-1] != SYSEX_END:
            raise InvalidMidiMessage(
                f"sysex must end with 0xF7, not 0x{data[-1]:02X} at position {length - 1}"
            )
        end = length - 1
    if not data[1:end].isascii():  # some data byte has its top bit set
        position = next(i for i in range(1, end) if data[i] > 0x7F)
        raise InvalidMidiMessage(
            f"{spec.kind} data byte 0x{data[position]:02X} at position {position} is > 0x7F"
        )


def _not_a_status(byte: int) -> str:
    if byte < 0x80:
        return f"first byte 0x{byte:02X} is a data byte, not a status byte"
    if byte == SYSEX_END:
        return "status byte 0xF7 (end of sysex) without a 0xF0 before it"
    return f"status byte 0x{byte:02X} is undefined in MIDI 1.0"


def _wrong_length(spec: Spec, data: bytes) -> InvalidMidiMessage:
    length = len(data)
    if length < spec.length:
        detail = f"missing byte at position {length}"
    else:
        detail = f"extra byte 0x{data[spec.length]:02X} at position {spec.length}"
    return InvalidMidiMessage(f"{spec.kind} needs {spec.length} bytes, got {length}: {detail}")
