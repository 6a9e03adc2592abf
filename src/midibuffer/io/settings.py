"""One set of output parameters, checked once: :class:`OutputSettings`.

Every audio output (:class:`~midibuffer.audio.AudioOutput`,
:class:`~midibuffer.offline.OfflineOutput`, :func:`~midibuffer.audio.open_output`)
takes these parameters as keyword arguments (:class:`OutputOptions`) and
turns them into one :class:`OutputSettings`, which checks them, before
anything is opened. The code below the outputs passes that one object on.

>>> OutputSettings(blocksize=128).block_period
0.0026666666666666666
>>> OutputSettings(channels=0)
Traceback (most recent call last):
    ...
ValueError: channels must be between 1 and 256, got 0
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TypedDict, cast

from midibuffer.adapters.scheduler import DEFAULT_MAX_LEAD, Mode
from midibuffer.buffer.ends import MAX_CAPACITY
from midibuffer.checks import checked_int, checked_seconds

__all__ = ["OutputOptions", "OutputSettings"]

MAX_SAMPLERATE = 768_000
MAX_BLOCKSIZE = 65_536
MAX_CHANNELS = 256


class OutputOptions(TypedDict, total=False):
    """The keyword arguments every output takes: the fields of :class:`OutputSettings`."""

    samplerate: int
    blocksize: int
    channels: int
    mode: Mode
    max_events: int
    max_lead: float
    realtime: bool


@dataclass(frozen=True, slots=True)
class OutputSettings:
    """The parameters of an audio output, checked when it is made. Any thread.

    Attributes:
        samplerate: frames per second (1..768,000).
        blocksize: frames per block, i.e. per callback (1..65,536).
        channels: interleaved float32 channels (1..256).
        mode: ``"timed"`` or ``"live"``; see :mod:`midibuffer.scheduler`.
        max_events: the most messages handed to the render function per block.
        max_lead: seconds; a message dated further ahead than this is
            misdated (a wrong clock) and played at once, counted in
            ``AudioStats.misdated`` (default 5 s; ``inf``: never).
        realtime: enter a :class:`~midibuffer.realtime.RealtimeMode` for the
            block period while the output runs.

    Raises:
        TypeError: a number is not an int (``bool`` included), or *realtime*
            is not a bool; the message names the parameter.
        ValueError: a number is out of its range, or *mode* is unknown.
    """

    samplerate: int = 48_000
    blocksize: int = 64
    channels: int = 2
    mode: Mode = "timed"
    max_events: int = 256
    max_lead: float = DEFAULT_MAX_LEAD
    realtime: bool = False

    def __post_init__(self) -> None:
        checked_int("samplerate", self.samplerate, 1, MAX_SAMPLERATE)
        checked_int("blocksize", self.blocksize, 1, MAX_BLOCKSIZE)
        checked_int("channels", self.channels, 1, MAX_CHANNELS)
        checked_int("max_events", self.max_events, 1, MAX_CAPACITY)
        checked_seconds("max_lead", self.max_lead, positive=True)
        if self.mode not in ("timed", "live"):
            raise ValueError(f"mode must be 'timed' or 'live', got {self.mode!r}")
        if not isinstance(self.realtime, bool):
            raise TypeError(f"realtime must be a bool, not {type(self.realtime).__name__}")

    def as_options(self) -> OutputOptions:
        """These settings as keyword arguments for an output (``**settings.as_options()``)."""
        return cast(
            OutputOptions, {field.name: getattr(self, field.name) for field in fields(self)}
        )

    @property
    def block_period(self) -> float:
        """Seconds per block."""
        return self.blocksize / self.samplerate
