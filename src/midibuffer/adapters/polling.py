"""Adaptive polling: how long a poller rests after a look that found nothing.

Whoever waits for a buffer without the other side's help (the MIDI input's
thread, waiting for rtmidi's queue; :class:`~midibuffer.AsyncMidiConsumer`,
waiting for a buffer) looks, and rests when there was nothing. Looking often
keeps the latency low and costs a wake-up each time (20-40 µs of CPU for a
sleeping thread on this kind of machine, 270-380 µs for an event loop:
``docs/benchmarks.md``), so a silent source is looked at less often:
every *poll_interval* while messages come, every *idle_poll_interval* once
none came for :data:`IDLE_AFTER` seconds, until the next one.
"""

from __future__ import annotations

import math

from midibuffer.checks import checked_seconds

__all__ = ["IDLE_AFTER", "PollPacer", "checked_poll_intervals"]

IDLE_AFTER = 1.0
"""Seconds without a message after which a poller looks every
``idle_poll_interval`` instead of every ``poll_interval``."""


def checked_poll_intervals(
    poll_interval: object, idle_poll_interval: object
) -> tuple[float | None, float | None]:
    """Check a pair of intervals (seconds, or ``None``); return them as floats.

    Raises:
        TypeError: an interval is not a number or ``None`` (``bool`` included).
        ValueError: an interval is not finite and positive, or
            *idle_poll_interval* is shorter than *poll_interval*.
    """
    checked: list[float | None] = []
    for name, value in (
        ("poll_interval", poll_interval),
        ("idle_poll_interval", idle_poll_interval),
    ):
        if value is None:
            checked.append(None)
            continue
        seconds = checked_seconds(name, value, positive=True)
        if math.isinf(seconds):
            raise ValueError(f"{name} must be finite (seconds), or None")
        checked.append(seconds)
    fast, idle = checked
    if fast is not None and idle is not None and idle < fast:
        raise ValueError(
            f"idle_poll_interval ({idle:g} s) must not be shorter than poll_interval ({fast:g} s)"
        )
    return fast, idle


class PollPacer:
    """The rest after each empty look: *poll_interval*, or *idle_poll_interval* once
    :data:`IDLE_AFTER` seconds' worth of looks found nothing.

    Counts looks rather than reading a clock, so it costs no system call.
    Used by one thread (or one event loop) at a time. The intervals must
    have been checked (:func:`checked_poll_intervals`); ``None`` as
    *idle_poll_interval* means always *poll_interval*.

    >>> pacer = PollPacer(0.001, 0.01)
    >>> rests = [pacer.rest() for _ in range(1001)]
    >>> rests[0], rests[998], rests[999], rests[1000]
    (0.001, 0.001, 0.01, 0.01)
    >>> pacer.found()
    >>> pacer.rest()
    0.001
    """

    __slots__ = ("_empty", "_idle_after", "idle_poll_interval", "poll_interval")

    def __init__(self, poll_interval: float, idle_poll_interval: float | None) -> None:
        self.poll_interval = poll_interval
        self.idle_poll_interval = (
            poll_interval if idle_poll_interval is None else idle_poll_interval
        )
        self._idle_after = max(1, round(IDLE_AFTER / poll_interval))  # empty looks
        self._empty = 0

    def rest(self) -> float:
        """A look found nothing: return how long to rest before the next one."""
        self._empty += 1
        return self.poll_interval if self._empty < self._idle_after else self.idle_poll_interval

    def found(self) -> None:
        """A look found something: look every ``poll_interval`` again."""
        self._empty = 0
