"""When a MIDI message arrived, on ``time.perf_counter()``'s clock, from a backend's delta times.

A MIDI backend (rtmidi) tells how long after the previous message each one
arrived: summed, those deltas are the backend's own clock ``b``. Python
takes the message some time later, at ``perf_counter()`` time ``t``. The
offset ``c`` between the two clocks is unknown, but every message bounds it
from above: it arrived before it was taken, so ``c <= t - b``.
:class:`ArrivalClock` keeps the smallest bound seen, ``m``, and stamps each
message ``b + m``:

* a stamp is never later than the moment the message was taken (``m <= t - b``);
* stamps never go backwards: while ``m`` stays, they follow ``b``; when it
  drops, the stamp is ``t`` itself, later than every earlier take;
* a stamp is late by at most the quickest take seen so far (``m - c``),
  which shrinks to the backend's own rounding within a few messages.

The bound only falls. If the backend's clock loses time (a message that it
dropped, for example from a full queue, took its delta with it), every
later bound sits above ``m`` and the stamps would stay early for ever. So
when all of at least :data:`WINDOW_MESSAGES` bounds taken over
:data:`WINDOW` seconds stay more than :data:`RESYNC` above ``m``, ``m``
rises to the smallest of them (counted in :attr:`ArrivalClock.resyncs`).
"""

from __future__ import annotations

import math

__all__ = ["RESYNC", "WINDOW", "WINDOW_MESSAGES", "ArrivalClock"]

WINDOW = 1.0
"""Seconds of takes over which the bounds are watched for a lost offset."""
WINDOW_MESSAGES = 16
"""Fewest messages in a window for it to move the offset up (a sparse window
holds too few quick takes to trust its floor)."""
RESYNC = 0.002
"""Seconds: a window whose smallest bound stays further above the offset
than this means the backend's clock lost time."""


class ArrivalClock:
    """Stamps messages from a backend's delta times (see the module documentation).

    Call :meth:`stamp` from one thread (the one taking the messages).

    >>> clock = ArrivalClock()
    >>> clock.stamp(0.0, taken=10.0)  # the first message: stamped when taken
    10.0
    >>> clock.stamp(0.002, taken=10.5)  # taken late: the backend's 2 ms count
    10.002
    >>> clock.stamp(1.0, taken=10.6)  # a gap the takes contradict: the offset drops
    10.6
    """

    __slots__ = ("_backend", "_floor", "_in_window", "_offset", "_window_end", "resyncs")

    def __init__(self) -> None:
        self._backend = 0.0  # the sum of the deltas
        self._offset = math.inf  # m: the smallest bound (taken - backend) in use
        self._window_end = -math.inf
        self._floor = math.inf  # the smallest bound of the current window
        self._in_window = 0
        self.resyncs = 0
        """Times the offset rose because the backend's clock lost time."""

    def stamp(self, delta: float, taken: float) -> float:
        """The arrival time of a message *delta* seconds after the previous one,
        taken at *taken* (``perf_counter()``). A delta that is not finite and
        ``>= 0`` counts as 0."""
        if not 0.0 <= delta < math.inf:
            delta = 0.0
        backend = self._backend + delta
        self._backend = backend
        bound = taken - backend
        if bound < self._floor:
            self._floor = bound
        self._in_window += 1
        if taken >= self._window_end:
            if self._in_window >= WINDOW_MESSAGES and self._floor > self._offset + RESYNC:
                self._offset = self._floor
                self.resyncs += 1
            self._window_end = taken + WINDOW
            self._floor = math.inf
            self._in_window = 0
        if bound < self._offset:
            self._offset = bound
        return backend + self._offset
