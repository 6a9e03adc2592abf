"""An opt-in real-time setup for processes whose audio callback is written in Python.

A Python audio callback needs the GIL. If another thread (an event loop, a
sequencer) runs pure-Python code, the callback waits until that thread lets
go of the GIL, which CPython forces every *switch interval*: 5 ms by default.
A 64-frame block at 48 kHz lasts 1.33 ms, so at the default interval the
callback misses its deadline whenever it has to wait. On a 2-core machine
with JACK (dummy driver, 64 frames at 48 kHz), an asyncio task doing 10 ms
steps of pure-Python work made most callbacks underflow at the default
interval and almost none at a quarter of the block period; the figures are
in ``docs/benchmarks.md`` (``python -m midibuffer.bench --suite gil``).

:class:`RealtimeMode` applies, for as long as it is active:

* ``sys.setswitchinterval(block_period / 4)``: a callback waits at most about
  a quarter of its period for the GIL. The cost: other threads hand the GIL
  over more often, which costs them some throughput (a few percent for
  pure-Python work; measure yours).
* ``gc.collect()`` then ``gc.freeze()`` (by default): everything allocated
  during start-up moves to a permanent generation that later collections
  skip, so a collection, whichever thread triggers it, is short. Objects
  frozen this way are never collected, so enter the mode after start-up,
  not before loading big temporary data.

Both are process-wide and restored on exit. Nothing here is needed for
correctness: the buffer is correct at any switch interval.
"""

from __future__ import annotations

import gc
import sys
from types import TracebackType

__all__ = ["MIN_SWITCH_INTERVAL", "RealtimeMode", "switch_interval_for"]

MIN_SWITCH_INTERVAL = 0.000_05
"""The shortest switch interval :func:`switch_interval_for` proposes (50 µs)."""


def switch_interval_for(block_period: float) -> float:
    """The GIL switch interval for an audio block of *block_period* seconds:
    a quarter of it, at least :data:`MIN_SWITCH_INTERVAL`, and never longer
    than CPython's current setting.

    Raises:
        ValueError: *block_period* is not a positive number.

    >>> round(switch_interval_for(64 / 48_000), 6)   # 64 frames at 48 kHz
    0.000333
    """
    if not block_period > 0:
        raise ValueError(f"block_period must be a positive number of seconds, got {block_period!r}")
    return min(max(block_period / 4, MIN_SWITCH_INTERVAL), sys.getswitchinterval())


class RealtimeMode:
    """Process-wide settings that keep a Python audio callback on time; a context manager.

    Args:
        block_period: the audio block's duration in seconds
            (``blocksize / samplerate``).
        freeze_gc: collect, then ``gc.freeze()`` on entry (``gc.unfreeze()``
            on exit).

    Enter it from the main thread after start-up, before starting the
    stream; :class:`~midibuffer.audio.AudioOutput` does that for you with
    ``realtime=True``.

    >>> import sys
    >>> before = sys.getswitchinterval()
    >>> with RealtimeMode(64 / 48_000) as mode:
    ...     round(sys.getswitchinterval(), 6) == round(mode.switch_interval, 6)
    True
    >>> sys.getswitchinterval() == before
    True
    """

    def __init__(self, block_period: float, *, freeze_gc: bool = True) -> None:
        self.switch_interval = switch_interval_for(block_period)
        self.freeze_gc = freeze_gc
        self._previous: float | None = None

    @property
    def active(self) -> bool:
        """Whether the mode is in effect."""
        return self._previous is not None

    def __enter__(self) -> RealtimeMode:
        if self._previous is not None:
            raise RuntimeError("this RealtimeMode is already active")
        self._previous = sys.getswitchinterval()
        if self.freeze_gc:
            gc.collect()
            gc.freeze()
        sys.setswitchinterval(self.switch_interval)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        previous, self._previous = self._previous, None
        if previous is None:
            return
        sys.setswitchinterval(previous)
        if self.freeze_gc:
            gc.unfreeze()

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<RealtimeMode switch_interval={self.switch_interval * 1e3:.3f} ms {state}>"
