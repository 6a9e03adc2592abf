"""An opt-in real-time setup for processes whose audio callback is written in Python.

A Python audio callback needs the GIL. If another thread (an event loop, a
sequencer) runs pure-Python code, the callback waits until that thread lets
go of the GIL, which CPython forces every *switch interval*: 5 ms by default.
A 64-frame block at 48 kHz lasts 1.33 ms, so at the default interval the
callback misses its deadline whenever it has to wait. On a 2-core machine
with JACK (dummy driver, 64 frames at 48 kHz), an asyncio task doing 10 ms
steps of pure-Python work made most callbacks underflow at the default
interval and almost none at a quarter of the block period; the figures are
in ``docs/benchmarks.md`` (``midibuffer bench --suite gil``).

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

Both are process-wide and restored on exit. Modes nest: while several are
active (nested, or overlapping from two outputs), the shortest switch
interval of them is in force, and the original one comes back exactly when
the last one exits, in whatever order they exit. Only the first mode to
enter freezes, and ``gc.unfreeze()`` runs when the last one exits, unless
the user froze objects themselves, before or meanwhile: a user's
``gc.freeze()`` is never undone. Nothing here is needed for correctness:
the buffer is correct at any switch interval.
"""

from __future__ import annotations

import gc
import sys
import threading
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
    stream; :class:`~midibuffer.io.audio.AudioOutput` does that for you with
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

    @property
    def active(self) -> bool:
        """Whether the mode is in effect. Any thread."""
        return self in _state.active

    def __enter__(self) -> RealtimeMode:
        """Apply the mode (see the class). Any thread; usually the main one.

        Raises:
            RuntimeError: this mode is already active.
        """
        with _state.lock:
            if self in _state.active:
                raise RuntimeError("this RealtimeMode is already active")
            if not _state.active:
                _state.original_interval = sys.getswitchinterval()
            if self.freeze_gc and not _state.froze:
                frozen_before = gc.get_freeze_count()
                gc.collect()
                gc.freeze()
                _state.froze = True
                # Ours to undo only if nothing was frozen before (by the user).
                _state.unfreeze_at = gc.get_freeze_count() if frozen_before == 0 else None
            _state.active.append(self)
            sys.setswitchinterval(min(mode.switch_interval for mode in _state.active))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Leave the mode; the last active mode restores the original settings.
        Idempotent. Any thread."""
        with _state.lock:
            if self not in _state.active:
                return
            _state.active.remove(self)
            if _state.active:
                sys.setswitchinterval(min(mode.switch_interval for mode in _state.active))
                return
            sys.setswitchinterval(_state.original_interval)
            # Unfreeze only what we froze. Frozen objects that die leave the
            # count; a user's gc.freeze() meanwhile would have raised it.
            if _state.unfreeze_at is not None and gc.get_freeze_count() <= _state.unfreeze_at:
                gc.unfreeze()
            _state.unfreeze_at = None
            _state.froze = False

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<RealtimeMode switch_interval={self.switch_interval * 1e3:.3f} ms {state}>"


class _ProcessState:
    """What the active modes share: they change process-wide settings."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: list[RealtimeMode] = []  # in the order they entered
        self.original_interval = sys.getswitchinterval()  # before the first mode entered
        self.froze = False  # a mode called gc.freeze() in this round
        self.unfreeze_at: int | None = None  # the freeze count just after ours, if ours alone


_state = _ProcessState()
