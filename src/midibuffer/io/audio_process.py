"""The audio side in a process of its own: :class:`AudioProcess`.

In CPython the GIL, not the buffer, decides whether a Python audio callback
keeps its deadline: one busy pure-Python thread in the same process can make
half the callbacks miss it (``docs/benchmarks.md``). An :class:`AudioProcess`
starts a child process (``spawn``: never a bare fork of a threaded parent)
that builds the render function there (``render_factory(samplerate)``),
opens the output exactly as :func:`~midibuffer.audio.open_output` does (a
device, or offline rendering with a reason), and plays what arrives on a
:func:`~midibuffer.shared_midi_buffer`. The parent keeps the producer end; a
busy asyncio program in the parent cannot starve the callback.

With ``midi_input=PORT`` (or ``virtual_midi_input=NAME``) the child also
opens that MIDI input itself (:func:`~midibuffer.rtmidi.open_input`,
polling) into a buffer of its own, whose messages are scheduled as in
``mode="live"`` (their arrival times, one block of latency, sample-accurate
spacing) and merged with the parent's: MIDI in to audio out never crosses
the parent's GIL.

The child never outlives the parent: it blocks on a control pipe whose other
end only the parent holds, so the parent's death (even ``SIGKILL``) ends the
pipe, and the child closes its output and exits. The parent's switch
interval and GC settings are never touched: ``realtime=True`` applies inside
the child only.

Example (it starts a process, so it is not run as a doctest)::

    from midibuffer import MidiMessage
    from midibuffer.audio import AudioProcess
    from midibuffer.synth import PolySynth

    with AudioProcess(PolySynth, blocksize=64) as audio:
        print(audio.reason or "playing on a device", audio.pid)
        audio.producer.try_send(MidiMessage.note_on(0, 60, 100))
        ...
        print(audio.stats())
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from typing_extensions import Unpack

from midibuffer.adapters.scheduler import BlockEvents, BlockScheduler, merge_events
from midibuffer.buffer.shared import (
    SharedMidiBufferConsumer,
    SharedMidiBufferProducer,
    shared_midi_buffer,
)
from midibuffer.errors import MidiBufferError
from midibuffer.io.render import AudioBlock, AudioStats, Render
from midibuffer.io.settings import OutputOptions, OutputSettings

if TYPE_CHECKING:
    from midibuffer.buffer._shared import SharedRing
    from midibuffer.io.midi_input import MidiInput, MidiInputStats

__all__ = ["AudioProcess", "AudioProcessError"]

RenderFactory = Callable[[int], Render]
"""``render_factory(samplerate)``: builds the render function in the child process."""

_START_TIMEOUT = 30.0  # seconds for the child to import, build the renderer and start
_CLOSE_TIMEOUT = 1.0  # seconds close() waits for the child before killing it


def _midi_source(port: str | None, virtual: str | None) -> tuple[str, str] | None:
    """``("port", name)``, ``("virtual", name)`` or ``None``, from the two arguments."""
    for name, value in (("midi_input", port), ("virtual_midi_input", virtual)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    if port is not None and virtual is not None:
        raise ValueError("give midi_input or virtual_midi_input, not both")
    if port is not None:
        return ("port", port)
    return None if virtual is None else ("virtual", virtual)


class AudioProcessError(MidiBufferError):
    """The audio process failed, and its exception could not cross as itself.

    The message holds the original exception's type and text.
    """


def _portable(error: BaseException) -> BaseException:
    """*error* if it survives pickling, else an AudioProcessError with its type and text."""
    try:
        copy: BaseException = pickle.loads(pickle.dumps(error))
    except Exception:
        return AudioProcessError(f"{type(error).__name__}: {error}")
    return copy


class _WithMidiInput:
    """A render function with the child's MIDI input merged into each block's events.

    The input's messages carry their arrival times, so they are scheduled as
    in ``mode="live"`` by a scheduler of their own, then merged by offset
    with the parent's (which go first at equal offsets).
    """

    def __init__(self, render: Render, scheduler: BlockScheduler) -> None:
        self._render = render
        self._scheduler = scheduler
        self._merged = BlockEvents(2 * scheduler.max_events)

    def __call__(self, outdata: AudioBlock, events: BlockEvents) -> None:
        live = self._scheduler.collect(len(outdata))
        if live.count:
            events = merge_events(events, live, self._merged)
        self._render(outdata, events)


def _open_midi_input(
    source: tuple[str, str], capacity: int, settings: OutputSettings
) -> tuple[MidiInput, BlockScheduler]:
    """Open the child's MIDI input (*source*: ``("port" | "virtual", name)``) into a buffer
    of its own; return it and the live scheduler that reads that buffer."""
    from midibuffer.buffer.ends import midi_buffer
    from midibuffer.io.midi_input import open_input, open_virtual_input

    kind, name = source
    producer, consumer = midi_buffer(capacity)
    opener = open_virtual_input if kind == "virtual" else open_input
    midi_input = opener(name, producer)
    scheduler = BlockScheduler(
        consumer,
        settings.samplerate,
        mode="live",
        max_events=settings.max_events,
        max_lead=settings.max_lead,
    )
    return midi_input, scheduler


def _child(
    factory: RenderFactory,
    consumer: SharedMidiBufferConsumer,
    settings: OutputSettings,
    device: int | str | None,
    offline: bool,
    wav: str | None,
    midi_source: tuple[str, str] | None,
    control: Connection,
) -> None:
    """The audio process: build, open, play; answer the parent until it says close or dies."""
    from midibuffer.io.output import open_output

    midi_input: MidiInput | None = None
    try:
        render = factory(settings.samplerate)
        if midi_source is not None:
            midi_input, scheduler = _open_midi_input(midi_source, consumer.capacity, settings)
            render = _WithMidiInput(render, scheduler)
        output, reason = open_output(
            consumer, render, offline=offline, device=device, **settings.as_options()
        )
        output.start()
    except BaseException as error:
        if midi_input is not None:
            midi_input.close()
        control.send(("failed", _portable(error)))
        return
    control.send(("started", reason))
    try:
        while True:
            try:
                request = control.recv()
            except (EOFError, OSError):  # the parent is gone: so are we
                # The buffer loses its consumer: its name in /dev/shm goes
                # now, not only when this process frees the ring on its way out.
                cast("SharedRing", consumer._ring).unlink()
                return
            if request == "stats":
                control.send(output.stats())
            elif request == "midi_input_stats":
                control.send(None if midi_input is None else midi_input.stats())
            elif request == "error":
                control.send(None if output.error is None else _portable(output.error))
            elif request == "close":
                break
    finally:
        if midi_input is not None:
            midi_input.close()
        try:
            output.stop()
            if wav is not None:
                from midibuffer.io.offline import OfflineOutput

                if isinstance(output, OfflineOutput):
                    output.write_wav(wav)
            output.close()
        except BaseException as error:  # render raised: close() raises it again
            failure: BaseException | None = _portable(error)
        else:
            failure = None
        input_stats = None if midi_input is None else midi_input.stats()
        with contextlib.suppress(OSError):  # the parent is gone
            control.send(("closed", failure, output.stats(), input_stats))


class AudioProcess:
    """An audio output in a child process, fed through a shared-memory buffer.

    Args:
        render_factory: ``render_factory(samplerate)`` returns the render
            function, ``render(outdata, events)``; it is called in the child,
            so it must be picklable (a module-level function or class, such
            as :class:`~midibuffer.synth.PolySynth`, or a
            :func:`functools.partial` of one).
        device: the output device, as for :class:`~midibuffer.audio.AudioOutput`.
        capacity: the shared buffer's capacity (messages).
        offline: render on a simulated clock instead of a device.
        wav: when the child renders offline (asked for, or no device
            works), write what it rendered to this WAV file on
            :meth:`close`.
        midi_input: the MIDI input port the child opens itself (the first
            whose name contains this, as :func:`~midibuffer.rtmidi.open_input`
            finds it), or ``None``.
        virtual_midi_input: or the name of a virtual MIDI input port the
            child creates (:func:`~midibuffer.rtmidi.open_virtual_input`;
            with JACK: ``midibuffer:NAME``). At most one of the two. Its
            messages (polled, never on the backend's thread) are scheduled
            as in ``mode="live"`` and merged with :attr:`producer`'s;
            :meth:`midi_input_stats` reports on it.
        options: ``samplerate``, ``blocksize``, ``channels``, ``mode``,
            ``max_events``, ``max_lead``, ``realtime`` (default ``True``
            here, applied in the child only): see
            :class:`~midibuffer.audio.OutputSettings`.

    Use it as a context manager, or call :meth:`start` and :meth:`close`.
    Every method is for the thread that made it.

    Raises (at construction):
        TypeError, ValueError: a bad option, naming it (both MIDI inputs
            given is a ValueError).
        MidiBufferError: the shared buffer's C core is not available.
    """

    def __init__(
        self,
        render_factory: RenderFactory,
        *,
        device: int | str | None = None,
        capacity: int = 1024,
        offline: bool = False,
        wav: str | Path | None = None,
        midi_input: str | None = None,
        virtual_midi_input: str | None = None,
        **options: Unpack[OutputOptions],
    ) -> None:
        if not callable(render_factory):
            raise TypeError(f"render_factory must be callable, not {type(render_factory).__name__}")
        self._midi_source = _midi_source(midi_input, virtual_midi_input)
        options.setdefault("realtime", True)
        self.settings = OutputSettings(**options)
        """The output's settings, applied in the child."""
        self._factory = render_factory
        self._device = device
        self._offline = offline
        self._wav = None if wav is None else str(wav)
        self._producer, self._consumer = shared_midi_buffer(capacity)
        self._process: Any = None
        self._control: Connection | None = None
        self._reason: str | None = None
        self._error: BaseException | None = None
        self._final_stats: AudioStats | None = None
        self._final_input_stats: MidiInputStats | None = None

    @property
    def producer(self) -> SharedMidiBufferProducer:
        """The parent's end: send MIDI here (or give it to an adapter)."""
        return self._producer

    @property
    def reason(self) -> str | None:
        """``None`` when a device plays; else why the child renders offline."""
        return self._reason

    @property
    def pid(self) -> int | None:
        """The audio process's id, once started."""
        return None if self._process is None else int(self._process.pid)

    @property
    def error(self) -> BaseException | None:
        """The exception that stopped the audio process (the factory or render
        raising), or ``None``. It asks the child when it still runs. Once it
        holds render's exception, :attr:`producer` sees ``is_abandoned()``."""
        if self._error is None and self._control is not None and self._process.is_alive():
            try:
                self._control.send("error")
                self._error = self._control.recv()
            except (EOFError, OSError):
                pass
        return self._error

    def raise_if_failed(self) -> None:
        """Raise :attr:`error` in this process, if there is one."""
        error = self.error
        if error is not None:
            raise error

    def start(self) -> None:
        """Start the child and return once its output runs.

        Raises:
            RuntimeError: already started.
            Exception: what the render factory or opening the output raised
                in the child (itself, or an :class:`AudioProcessError`
                with its type and text).
            TimeoutError: the child did not start within 30 s.
        """
        if self._process is not None:
            raise RuntimeError("this AudioProcess was already started")
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe()
        self._process = context.Process(
            target=_child,
            args=(
                self._factory,
                self._consumer,
                self.settings,
                self._device,
                self._offline,
                self._wav,
                self._midi_source,
                theirs,
            ),
            name="midibuffer-audio",
            daemon=True,
        )
        self._process.start()
        theirs.close()  # only the child holds it now: our death ends its pipe
        del self._consumer  # it lives in the child now
        self._control = mine
        try:
            if not mine.poll(_START_TIMEOUT):
                raise TimeoutError(f"the audio process did not start within {_START_TIMEOUT:g} s")
            try:
                kind, value = mine.recv()
            except EOFError:
                self._process.join(_CLOSE_TIMEOUT)
                raise AudioProcessError(
                    "the audio process exited during start-up (exit code "
                    f"{self._process.exitcode}; its error is on stderr): the render factory "
                    "must be importable there, defined at module level"
                ) from None
            if kind == "failed":
                self._error = value
                raise value
        except BaseException:
            self._kill()
            # The consumer may never have attached: nobody can attach any more.
            cast("SharedRing", self._producer._ring).unlink()
            self._producer.close()
            self._control = None
            raise
        self._reason = value

    def stats(self) -> AudioStats:
        """The child's live :class:`~midibuffer.audio.AudioStats`; after :meth:`close`,
        the last ones it reported.

        Raises:
            AudioProcessError: the audio process is not running (and did not
                close normally).
        """
        if self._control is None and self._final_stats is not None:
            return self._final_stats
        return cast("AudioStats", self._ask("stats"))

    def _ask(self, request: str) -> object:
        """Send *request* to the child and return its answer."""
        if self._control is None or not self._process.is_alive():
            raise AudioProcessError("the audio process is not running")
        try:
            self._control.send(request)
            return self._control.recv()
        except (EOFError, OSError):
            raise AudioProcessError("the audio process is not running") from None

    def midi_input_stats(self) -> MidiInputStats | None:
        """The child's MIDI input's :class:`~midibuffer.rtmidi.MidiInputStats`, live (after
        :meth:`close`, the last ones); ``None`` without ``midi_input``/``virtual_midi_input``.

        Raises:
            AudioProcessError: the audio process is not running (and did not
                close normally).
        """
        if self._midi_source is None:
            return None
        if self._control is None and self._final_input_stats is not None:
            return self._final_input_stats
        return cast("MidiInputStats", self._ask("midi_input_stats"))

    def close(self) -> None:
        """Stop the child (within about a second), close the producer, write the
        WAV file if one was asked for, then raise :attr:`error` if there is one.
        Idempotent."""
        self._producer.close()
        if self._control is not None:
            control, self._control = self._control, None
            try:
                control.send("close")
                if control.poll(_CLOSE_TIMEOUT * 10 if self._wav else _CLOSE_TIMEOUT):
                    _, failure, self._final_stats, self._final_input_stats = control.recv()
                    self._error = self._error or failure
            except (EOFError, OSError):
                pass
            control.close()
            self._process.join(_CLOSE_TIMEOUT)
            self._kill()
        self.raise_if_failed()

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join()

    def __enter__(self) -> AudioProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self._process is not None and self._process.is_alive() else "idle"
        return f"<AudioProcess pid={self.pid} {state} reason={self._reason!r}>"
