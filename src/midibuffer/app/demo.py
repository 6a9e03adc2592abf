"""``midibuffer demo``: music that went through the buffer, on any machine.

An anyio sequencer plays a short pattern in A minor (pad chords, a bassline,
an arpeggio, and a brightness sweep on the pad). It sends each message about
100 ms ahead of its time through an :class:`~midibuffer.AsyncMidiProducer`
into a :func:`~midibuffer.midi_buffer`. The audio callback pops the
messages, places them on their exact samples
(:class:`~midibuffer.adapters.scheduler.BlockScheduler`) and drives a
:class:`~midibuffer.app.synth.PolySynth`.

With an output device, it plays through :class:`~midibuffer.io.audio.AudioOutput`.
Without one (no PortAudio library, no device, a CI machine), it runs the same
callback on a simulated real-time clock (:class:`~midibuffer.io.offline.OfflineOutput`)
and writes a WAV file, saying so in one line. With ``midi_in``, notes played
on that MIDI input (python-rtmidi) join in, through a second buffer in live
mode.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio

from midibuffer.adapters.async_producer import AsyncMidiProducer
from midibuffer.adapters.scheduler import BlockEvents, BlockScheduler
from midibuffer.buffer.ends import midi_buffer
from midibuffer.buffer.shared import AnyConsumer, AnyProducer
from midibuffer.data.message import MidiMessage
from midibuffer.errors import AudioBackendUnavailable
from midibuffer.io.audio_process import AudioProcess
from midibuffer.io.midifile import play_midi_file
from midibuffer.io.render import AudioBlock, AudioStats, RenderingOutput

if TYPE_CHECKING:
    from midibuffer.app.synth import PolySynth

__all__ = ["DEFAULT_WAV", "DemoOptions", "DemoSummary", "make_synth", "pattern", "run_demo"]

_Output = RenderingOutput | AudioProcess

DEFAULT_WAV = Path("midibuffer-demo.wav")
TEMPO = 104  # beats per minute
LOOKAHEAD = 0.1  # seconds: how far ahead of its time a message is sent
_PROGRESSION = (  # (pad chord, bass root, arpeggio), one bar each
    ((57, 60, 64), 45, (69, 72, 76, 72)),  # A minor
    ((53, 57, 60), 41, (65, 69, 72, 69)),  # F major
    ((55, 60, 64), 48, (67, 72, 76, 72)),  # C major
    ((55, 59, 62), 43, (67, 71, 74, 71)),  # G major
)
_BASS_STEPS = (0, 0, 7, 0, 12, 0, 7, 5)  # semitones above the root, in eighths
PAD, BASS, LEAD = 0, 1, 2  # MIDI channels


def pattern(seconds: float) -> Iterator[tuple[float, MidiMessage]]:
    """The demo's messages for *seconds* of music, as ``(beat, message)`` in time order.

    >>> events = list(pattern(2.0))
    >>> events[0]
    (0.0, <MidiMessage control_change channel=0 control=7 value=100>)
    >>> all(a[0] <= b[0] for a, b in zip(events, events[1:]))
    True
    """
    beats = seconds * TEMPO / 60
    timeline: list[tuple[float, int, MidiMessage]] = []  # (beat, order, message)

    def add(beat: float, message: MidiMessage) -> None:
        if beat < beats:
            timeline.append((beat, len(timeline), message))

    for channel, volume in ((PAD, 100), (BASS, 110), (LEAD, 70)):
        add(0.0, MidiMessage.control_change(channel, 7, volume))
    bar = 0
    while bar * 4 < beats:
        chord, root, arpeggio = _PROGRESSION[bar % len(_PROGRESSION)]
        start = bar * 4.0
        for note in chord:
            add(start, MidiMessage.note_on(PAD, note, 64))
            add(start + 3.9, MidiMessage.note_off(PAD, note))
        for step, interval in enumerate(_BASS_STEPS):
            add(start + step / 2, MidiMessage.note_on(BASS, root + interval, 96))
            add(start + step / 2 + 0.4, MidiMessage.note_off(BASS, root + interval))
        if bar >= 1:  # the arpeggio enters in the second bar
            for step in range(8):
                note = arpeggio[step % len(arpeggio)] + (12 if step >= 4 else 0)
                add(start + step / 2 + 0.25, MidiMessage.note_on(LEAD, note, 80))
                add(start + step / 2 + 0.6, MidiMessage.note_off(LEAD, note))
        for sixteenth in range(16):  # brightness sweep, a cycle every two bars
            beat = start + sixteenth / 4
            value = round(64 + 56 * math.sin(2 * math.pi * beat / 8))
            add(beat, MidiMessage.control_change(PAD, 74, value))
        bar += 1
    for channel in (PAD, BASS, LEAD):
        timeline.append((beats, len(timeline), MidiMessage.control_change(channel, 123, 0)))
    timeline.sort(key=lambda entry: (entry[0], entry[1]))
    for beat, _, message in timeline:
        yield beat, message


@dataclass(frozen=True)
class DemoOptions:
    """The demo's settings (the ``midibuffer demo`` options)."""

    duration: float = 8.0
    blocksize: int = 128
    samplerate: int = 48_000
    output: Path | None = None
    """Render to this WAV file instead of playing."""
    midi_in: str | None = None
    """Play along live on the MIDI input whose name contains this."""
    device: int | str | None = None
    realtime: bool = True
    audio_process: bool = False
    """Render in a process of its own (:class:`~midibuffer.audio.AudioProcess`)."""
    status: TextIO | None = None
    """Where the live status line and the fallback notice go (``midibuffer demo``: stderr)."""
    midi_file: Path | None = None
    """Play this Standard MIDI File (``midibuffer play``) instead of the demo's pattern;
    *duration* is then the file's length, shown in the status line's progress."""


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did."""

    destination: str
    """The device it played on, or the WAV file it wrote."""
    wav: Path | None
    seconds: float
    messages: int
    """Messages the sequencer sent through the buffer."""
    dropped: int
    waits: int
    """Sends that had to wait for room."""
    live_messages: int
    audio: AudioStats
    interrupted: bool = False
    """Ctrl-C stopped it early (what was rendered is in the WAV file all the same)."""

    def describe(self) -> str:
        """One line for people: what went through the buffer, and where it played."""
        a = self.audio
        return (
            f"{self.messages} messages through the buffer ({self.dropped} dropped, "
            f"{self.waits} waited for room), {self.live_messages} live; "
            f"{a.callbacks} audio blocks, {a.late_events} late events, "
            f"{a.underflows} underflows, callback load {a.mean_load:.0%} mean, "
            f"{a.max_load:.0%} max; {self.seconds:.1f} s to {self.destination}"
            + (" (interrupted)" if self.interrupted else "")
        )


class _Mixer:
    """The render function: the synth, fed by the sequencer and the live input."""

    def __init__(self, samplerate: int, live: BlockScheduler | None) -> None:
        self.synth = make_synth(samplerate)
        self.live = live

    def __call__(self, outdata: AudioBlock, events: BlockEvents) -> None:
        if self.live is None:
            self.synth(outdata, events)
        else:
            self.synth(outdata, events, self.live.collect(len(outdata)))


async def _sequence(aproducer: AsyncMidiProducer, seconds: float, start: float) -> None:
    beat_seconds = 60 / TEMPO
    async with aproducer:
        for beat, message in pattern(seconds):
            when = start + beat * beat_seconds
            delay = when - LOOKAHEAD - time.perf_counter()
            if delay > 0:
                await anyio.sleep(delay)
            await aproducer.send(message.with_time(when))


async def _show_status(
    output: _Output, aproducer: AsyncMidiProducer, out: TextIO, total: float
) -> None:
    """A status line rewritten in place on a terminal, with a progress bar through
    *total* seconds; plain lines, once a second, in a log."""
    terminal = out.isatty()
    started = time.perf_counter()
    while True:
        await anyio.sleep(0.25 if terminal else 1.0)
        a = output.stats()
        s = aproducer.stats()
        elapsed = time.perf_counter() - started
        done = round(20 * min(elapsed / total, 1.0)) if total > 0 else 20
        bar = f"[{'#' * done}{'.' * (20 - done)}] " if terminal else ""
        line = (
            f"{bar}{elapsed:5.1f}/{total:.1f} s  messages {s.sent}  "
            f"drops {s.dropped}  late {a.late_events}  load {a.mean_load:4.0%} "
            f"(max {a.max_load:4.0%})  underflows {a.underflows}"
        )
        out.write(f"\r{line}  " if terminal else f"{line}\n")
        out.flush()


def make_synth(samplerate: int) -> PolySynth:
    """The demo's synth; in an AudioProcess it is built there (numpy is imported there)."""
    from midibuffer.app.synth import PolySynth

    return PolySynth(samplerate, voices=24)


def _where_the_process_plays(audio: AudioProcess, options: DemoOptions) -> tuple[str, Path | None]:
    """Where a started AudioProcess plays, and the WAV path if it renders offline."""
    if audio.reason is None:
        return f"an audio device, from process {audio.pid}", None
    wav = options.output or DEFAULT_WAV
    if options.status is not None and options.output is None:
        print(
            f"No audio output ({audio.reason}): rendering on a simulated real-time clock "
            f"to {wav}, in process {audio.pid}.",
            file=options.status,
        )
    return str(wav), wav


def _open_demo_output(
    consumer: AnyConsumer, mixer: _Mixer, options: DemoOptions
) -> tuple[RenderingOutput, str, Path | None]:
    """The output (a device, or offline), where the audio goes, and the WAV path if offline."""
    from midibuffer.io.audio import AudioOutput
    from midibuffer.io.output import open_output

    output, reason = open_output(
        consumer,
        mixer,
        offline=options.output is not None,
        device=options.device,
        samplerate=options.samplerate,
        blocksize=options.blocksize,
        realtime=options.realtime,
    )
    if isinstance(output, AudioOutput):
        return output, f"audio device {output.device_name!r}", None
    wav = options.output or DEFAULT_WAV
    if options.status is not None and options.output is None:
        print(
            f"No audio output ({reason}): rendering on a simulated real-time clock to {wav}.",
            file=options.status,
        )
    return output, str(wav), wav


async def _stop_on_ctrl_c(scope: anyio.CancelScope, interrupted: list[bool]) -> None:
    """Ctrl-C cancels *scope* and is noted in *interrupted*.

    asyncio.run()'s own SIGINT handler only cancels the main task, and a
    cancellation that lands inside the task group can be absorbed: the demo
    then played on (seen under load). An anyio signal receiver is exact on
    asyncio and trio alike.
    """
    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            interrupted.append(True)
            scope.cancel()
            return


def _live_messages(output: _Output, live: BlockScheduler | None) -> int:
    """How many live MIDI input messages were played."""
    if isinstance(output, AudioProcess):
        stats = output.midi_input_stats()
        return 0 if stats is None else stats.sent
    return 0 if live is None else live.stats().events


def run_demo(options: DemoOptions) -> DemoSummary:
    """Play (or render) the demo; return what happened.

    Raises:
        AudioBackendUnavailable: numpy is missing (``pip install 'midibuffer[audio]'``).
        MidiBackendUnavailable, MidiPortNotFound: *midi_in* cannot be opened.
    """
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise AudioBackendUnavailable(
            "the demo's synthesizer needs numpy: pip install 'midibuffer[audio]'"
        ) from None
    live_input = live = None
    try:
        output: _Output
        producer: AnyProducer
        if options.audio_process:
            audio = AudioProcess(
                make_synth,
                device=options.device,
                offline=options.output is not None,
                wav=options.output or DEFAULT_WAV,
                midi_input=options.midi_in,  # the audio process opens it itself
                samplerate=options.samplerate,
                blocksize=options.blocksize,
                realtime=options.realtime,
            )
            output, producer = audio, audio.producer
        else:
            local_producer, consumer = midi_buffer(256)
            if options.midi_in is not None:
                from midibuffer.io.midi_input import open_input

                live_producer, live_consumer = midi_buffer(256)
                live_input = open_input(options.midi_in, live_producer)
                live = BlockScheduler(live_consumer, options.samplerate, mode="live")
            output, destination, wav = _open_demo_output(
                consumer, _Mixer(options.samplerate, live), options
            )
            producer = local_producer
        aproducer = AsyncMidiProducer(producer)

        interrupted: list[bool] = []

        async def main() -> None:
            async with anyio.create_task_group() as tasks:
                if threading.current_thread() is threading.main_thread():
                    tasks.start_soon(_stop_on_ctrl_c, tasks.cancel_scope, interrupted)
                if options.status is not None:
                    tasks.start_soon(
                        _show_status, output, aproducer, options.status, options.duration
                    )
                if options.midi_file is None:
                    await _sequence(aproducer, options.duration, time.perf_counter() + LOOKAHEAD)
                else:  # it starts its clock once the file is read
                    async with aproducer:
                        await play_midi_file(options.midi_file, aproducer)
                await anyio.sleep(LOOKAHEAD + 0.3)  # the last messages, then the release tails
                tasks.cancel_scope.cancel()

        with output:  # closes the stream (or the audio process) whatever happens
            if isinstance(output, AudioProcess):
                destination, wav = _where_the_process_plays(output, options)
            started = time.perf_counter()
            try:
                anyio.run(main)
            except KeyboardInterrupt:  # before the receiver was listening, or another thread
                interrupted.append(True)
            seconds = time.perf_counter() - started
    finally:
        if live_input is not None:
            live_input.close()
    from midibuffer.io.offline import OfflineOutput  # numpy: checked above

    if wav is not None and isinstance(output, OfflineOutput):
        output.write_wav(wav)  # an AudioProcess wrote its own when it closed
    if options.status is not None and options.status.isatty():
        options.status.write("\n")
    sender = aproducer.stats()
    return DemoSummary(
        destination=destination,
        wav=wav,
        seconds=seconds,
        messages=sender.sent,
        dropped=producer.stats().dropped,
        waits=sender.waits,
        live_messages=_live_messages(output, live),
        audio=output.stats(),  # after closing: every block that was rendered
        interrupted=bool(interrupted),
    )
