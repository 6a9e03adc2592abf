"""Argument checks shared by every layer: one wording for every bad parameter.

Each check names the parameter, raises :class:`TypeError` for a value of the
wrong type (``bool`` is never taken for a number) and :class:`ValueError` for
one out of range, and returns the value normalised.

>>> checked_int("blocksize", 64, 1, 8192)
64
>>> checked_int("blocksize", True, 1, 8192)
Traceback (most recent call last):
    ...
TypeError: blocksize must be an int, not bool
>>> checked_seconds("timeout", -1.0)
Traceback (most recent call last):
    ...
ValueError: timeout must be a number of seconds >= 0, got -1.0
"""

from __future__ import annotations

import math
import operator

__all__ = ["as_int", "checked_int", "checked_seconds"]


def as_int(value: object, what: str) -> int:
    """Return *value* as an int, if it is one or has ``__index__`` (numpy integers).

    Raises:
        TypeError: *value* is a ``bool`` or not an integer; the text starts with *what*.
    """
    if type(value) is int:
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None
    return operator.index(value)


def checked_int(name: str, value: object, low: int, high: int) -> int:
    """Return *value* as an int in ``low..high``; anything with ``__index__`` is taken.

    Raises:
        TypeError: *value* is a ``bool`` or not an integer.
        ValueError: *value* is outside ``low..high``.
    """
    number = as_int(value, name)
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {number}")
    return number


def checked_seconds(name: str, value: object, *, positive: bool = False) -> float:
    """Return *value*, a duration in seconds, as a float: finite or ``inf``, ``>= 0``
    (``> 0`` with *positive*).

    Raises:
        TypeError: *value* is a ``bool`` or not a real number.
        ValueError: *value* is NaN, negative (or zero with *positive*).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0 or (positive and seconds == 0):
        relation = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a number of seconds {relation}, got {value!r}")
    return seconds
