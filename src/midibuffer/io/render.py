"""What an audio callback does with MIDI, whoever calls it: collect, render, count.

:class:`BlockRenderer` is the body of the audio callback, separated from the
audio library: :class:`~midibuffer.io.audio.AudioOutput` calls it from a
sounddevice callback, :class:`~midibuffer.io.offline.OfflineOutput` from a
thread that keeps the same real-time pace without a sound card. For each
block it collects the messages due with a
:class:`~midibuffer.adapters.scheduler.BlockScheduler`, calls the user's render
function, and keeps the counters of :class:`AudioStats`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from midibuffer.adapters.scheduler import BlockEvents, BlockScheduler
from midibuffer.buffer.shared import AnyConsumer
from midibuffer.io.realtime import RealtimeMode
from midibuffer.io.settings import OutputSettings

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    AudioBlock = npt.NDArray[np.float32]
else:
    AudioBlock = Any

__all__ = ["AudioBlock", "AudioStats", "BlockRenderer", "Render", "RenderingOutput"]

_Output = TypeVar("_Output", bound="RenderingOutput")

Render = Callable[["AudioBlock", BlockEvents], None]
"""``render(outdata, events)``: fill *outdata* (frames x channels, float32)
for one block; *events* holds the block's messages and their sample offsets."""


@dataclass(frozen=True, slots=True)
class AudioStats:
    """Counters of an audio output (``stats()``).

    Attributes:
        callbacks: blocks rendered.
        underflows: blocks the audio system flagged as delivered too late
            (sounddevice's ``output_underflow``; always 0 offline).
        overruns: callbacks that took longer than the block lasts.
        max_load: the longest callback, as a fraction of the block's
            duration (1.0 = the whole block).
        mean_load: the mean callback duration, as a fraction of a block.
        events: MIDI messages handed to the render function.
        late_events: messages placed at offset 0 because they came too late.
        untimed: messages without a ``time`` (in ``mode="timed"``), placed at
            offset 0.
        misdated: messages dated more than ``max_lead`` seconds ahead (a
            wrong clock), placed at offset 0 instead of holding the stream.
        resyncs: times the stream skipped and the clock re-synchronised.
    """

    callbacks: int
    underflows: int
    overruns: int
    max_load: float
    mean_load: float
    events: int
    late_events: int
    untimed: int
    misdated: int
    resyncs: int


class BlockRenderer:
    """Collects each block's MIDI, calls *render*, counts. The audio thread's work.

    Call :meth:`process` from the audio thread only (it owns the consumer).
    Real-time safe apart from what *render* does.

    Args:
        consumer: the consumer end, given to a
            :class:`~midibuffer.scheduler.BlockScheduler`.
        render: the user's ``render(outdata, events)``.
        settings: the output's settings (sample rate, mode, ``max_events``,
            ``max_lead``).

    Raises:
        TypeError: *render* is not callable.
        EndpointInUseError: another adapter holds *consumer*.
    """

    def __init__(self, consumer: AnyConsumer, render: Render, settings: OutputSettings) -> None:
        if not callable(render):
            raise TypeError(f"render must be callable, not {type(render).__name__}")
        self.scheduler = BlockScheduler(
            consumer,
            settings.samplerate,
            mode=settings.mode,
            max_events=settings.max_events,
            max_lead=settings.max_lead,
        )
        self._render = render
        self._seconds_per_frame = 1 / settings.samplerate
        self._callbacks = self._underflows = self._overruns = 0
        self._busy = self._max_load = 0.0
        self._frames = 0

    def process(self, outdata: AudioBlock, frames: int, underflow: bool = False) -> None:
        """Render one block of *frames* into *outdata*; *underflow*: the audio
        system reported that the previous block came too late. Exceptions
        from *render* propagate."""
        started = time.perf_counter()
        if underflow:
            self._underflows += 1
        self._render(outdata, self.scheduler.collect(frames, started))
        busy = time.perf_counter() - started
        load = busy / (frames * self._seconds_per_frame)
        self._busy += busy
        self._frames += frames
        self._callbacks += 1
        if load > self._max_load:
            self._max_load = load
        if load > 1.0:
            self._overruns += 1

    def stats(self) -> AudioStats:
        """A snapshot of the counters. Any thread; takes no lock."""
        scheduler = self.scheduler.stats()
        frames = self._frames
        return AudioStats(
            callbacks=self._callbacks,
            underflows=self._underflows,
            overruns=self._overruns,
            max_load=self._max_load,
            mean_load=self._busy / (frames * self._seconds_per_frame) if frames else 0.0,
            events=scheduler.events,
            late_events=scheduler.late,
            untimed=scheduler.untimed,
            misdated=scheduler.misdated,
            resyncs=scheduler.resyncs,
        )


class RenderingOutput:
    """What every audio output shares: a :class:`BlockRenderer`, the optional
    real-time mode while it runs, handing the render function's exception
    back, ``stats()`` and the context manager. Subclasses say how blocks are
    driven (:class:`~midibuffer.audio.AudioOutput`: a sounddevice stream;
    :class:`~midibuffer.offline.OfflineOutput`: a thread on a simulated
    clock) by implementing ``_start``, ``_stop``, ``active`` and, if they
    hold a device, ``_close_device``.

    The output holds its consumer: closing the output, or *render* raising,
    closes the consumer, so the producer side sees ``is_abandoned()`` and a
    waiting sender gets :class:`~midibuffer.AbandonedError` instead of
    waiting forever.
    """

    def __init__(self, consumer: AnyConsumer, render: Render, settings: OutputSettings) -> None:
        self.settings = settings
        """The output's :class:`~midibuffer.audio.OutputSettings`."""
        self.renderer = BlockRenderer(consumer, render, settings)
        self._realtime = RealtimeMode(settings.block_period) if settings.realtime else None
        self._error: BaseException | None = None

    @property
    def error(self) -> BaseException | None:
        """The exception *render* raised, which stopped rendering, or ``None``. Any
        thread. Once it is set, the consumer is closed (the producer sees
        ``is_abandoned()``)."""
        return self._error

    def _fail(self, error: BaseException) -> None:
        """*render* raised *error*: close the consumer, then keep *error*. Audio
        thread only.

        In that order: whoever sees :attr:`error` (another thread, or the
        parent of an :class:`~midibuffer.audio.AudioProcess` asking the child)
        already sees the producer's ``is_abandoned()``.
        """
        try:
            self.renderer.scheduler.close()
        finally:
            self._error = error

    def _close_device(self) -> None:
        """Release the device, if any (after ``_stop``)."""

    @property
    def active(self) -> bool:
        """Whether blocks are being rendered."""
        raise NotImplementedError

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start rendering (and the real-time mode, if asked for). Main thread."""
        if self._realtime is not None and not self._realtime.active:
            self._realtime.__enter__()
        self._start()

    def stop(self) -> None:
        """Stop after the current block; leave the real-time mode. Main thread."""
        try:
            self._stop()
        finally:
            if self._realtime is not None:
                self._realtime.__exit__(None, None, None)

    def close(self) -> None:
        """Stop, release the device, close the consumer, then raise what *render*
        raised, if anything (:attr:`error`). Main thread."""
        try:
            self.stop()
            self._close_device()
        finally:
            self.renderer.scheduler.close()
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        """Raise :attr:`error`, the exception that stopped rendering, if any. Any thread."""
        if self._error is not None:
            raise self._error

    def stats(self) -> AudioStats:
        """A snapshot of the counters. Any thread; takes no lock."""
        return self.renderer.stats()

    def __enter__(self: _Output) -> _Output:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
