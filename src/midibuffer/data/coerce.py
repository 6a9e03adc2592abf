"""Turning what users pass into checked values: MIDI bytes, field values, timestamps.

Each function names the argument that is wrong: :class:`TypeError` for the
wrong type (``bool`` is never taken for a number), :class:`ValueError` (or
:class:`~midibuffer.InvalidMidiMessage`) for a value out of range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from midibuffer.checks import as_int
from midibuffer.errors import InvalidMidiMessage

__all__ = ["Data", "as_bytes", "checked_field", "checked_time", "data_byte"]

Data = bytes | bytearray | memoryview | Iterable[int]
"""What a message's bytes may be given as: bytes-like, or an iterable of ints."""

_BYTES_LIKE = (bytes, bytearray, memoryview)


def as_bytes(data: Data) -> bytes:
    """Return *data* as ``bytes``, naming the first item that is not a byte.

    Bytes-like objects are taken as raw bytes. Other iterables must yield
    ints (or objects with ``__index__``, such as numpy integers) in 0..255;
    ``bool`` is refused because ``True`` is almost certainly a mistake.
    """
    if isinstance(data, _BYTES_LIKE):
        return bytes(data)
    if isinstance(data, str):
        raise TypeError("MIDI data must be bytes-like or an iterable of ints, not str")
    try:
        iterator = iter(data)
    except TypeError:
        raise TypeError(
            f"MIDI data must be bytes-like or an iterable of ints, not {type(data).__name__}"
        ) from None
    items = list(iterator)
    try:
        converted = bytes(items)
    except (TypeError, ValueError):
        _check_items(items)
        raise
    if bool in map(type, items):
        _check_items(items)
    return converted


def _check_items(items: list[int]) -> None:
    """Raise an error naming the first item that is not an int in 0..255.

    It replaces the less precise error of ``bytes()``, hence ``from None``.
    """
    for position, item in enumerate(items):
        if not 0 <= as_int(item, f"item {item!r} at position {position}") <= 0xFF:
            raise InvalidMidiMessage(
                f"item {item} at position {position} is not a byte (0..255)"
            ) from None


def checked_time(time: float | None) -> float | None:
    """Return *time* as a float (or ``None``); refuse bools, non-numbers and NaN/inf."""
    if time is None:
        return None
    if isinstance(time, bool) or not isinstance(time, (int, float)):
        raise TypeError(f"time must be a float or None, not {type(time).__name__}")
    if not math.isfinite(time):
        raise ValueError(f"time must be finite, got {time}")
    return float(time)


def checked_field(name: str, value: int, low: int, high: int) -> int:
    """Return argument *name* of a named constructor if it is an int in low..high."""
    value = as_int(value, name)
    if not low <= value <= high:
        raise InvalidMidiMessage(f"{name} must be in {low}..{high}, got {value}")
    return value


def data_byte(name: str, value: int) -> int:
    return checked_field(name, value, 0, 0x7F)
