"""The GIL scenario: a busy event loop next to a Python audio callback, with and
without :class:`~midibuffer.io.realtime.RealtimeMode`.

An asyncio task (an anyio sequencer) runs steps of 10 ms of pure-Python work,
sending a note through :class:`~midibuffer.AsyncMidiProducer` after each one,
while an :class:`~midibuffer.io.audio.AudioOutput` renders silence in 64-frame
blocks at 48 kHz. At CPython's default 5 ms switch interval, the callback
often waits longer than its 1.33 ms block for the GIL; the real-time mode
shortens the interval to a quarter of the block.

The placement table runs the same silent callback with 0, 1, 2 and 4 busy
pure-Python threads in this process, the callback in this process (with and
without the real-time mode) or in an :class:`~midibuffer.audio.AudioProcess`.

It needs a real output device. Without one, ``--jack`` starts a private JACK
server with the dummy driver (``jackd`` must be installed).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from midibuffer.adapters.async_producer import AsyncMidiProducer
from midibuffer.adapters.scheduler import BlockEvents
from midibuffer.buffer.ends import midi_buffer
from midibuffer.data.message import MidiMessage
from midibuffer.io.audio import AudioOutput
from midibuffer.io.audio_process import AudioProcess
from midibuffer.io.realtime import switch_interval_for
from midibuffer.io.render import AudioBlock
from midibuffer.testing.load import busy_threads

__all__ = [
    "GilResult",
    "PlacementResult",
    "format_gil_report",
    "format_placement_report",
    "measure_gil_scenario",
    "measure_placements",
]

SAMPLERATE = 48_000
BLOCKSIZE = 64
STEP = 0.010  # seconds of pure-Python work between two awaits


@dataclass(frozen=True)
class GilResult:
    realtime: bool
    switch_interval: float
    seconds: float
    expected_callbacks: int
    callbacks: int
    underflows: int
    overruns: int
    max_load: float
    steps: int


def _silence(outdata: AudioBlock, events: BlockEvents) -> None:
    outdata.fill(0)


async def _busy_sequencer(aproducer: AsyncMidiProducer, seconds: float) -> int:
    """Pure-Python steps of STEP seconds, one note after each; return the step count."""
    steps = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        busy_until = time.perf_counter() + STEP
        while time.perf_counter() < busy_until:
            pass
        steps += 1
        await aproducer.send(MidiMessage.note_on(0, 60 + steps % 12, 100))
    return steps


def measure_gil_scenario(
    *, realtime: bool, seconds: float = 4.0, device: int | str | None = None
) -> GilResult:
    """Run the scenario for *seconds* on *device* (default output) and count.

    Raises AudioBackendUnavailable or AudioDeviceNotFound without a device.
    """
    producer, consumer = midi_buffer(256)
    output = AudioOutput(
        consumer,
        _silence,
        samplerate=SAMPLERATE,
        blocksize=BLOCKSIZE,
        device=device,
        realtime=realtime,
    )
    interval_during = switch_interval_for(BLOCKSIZE / SAMPLERATE) if realtime else None
    with output:
        time.sleep(0.2)  # let the stream settle
        before = output.stats()
        started = time.perf_counter()
        steps = anyio.run(_busy_sequencer, AsyncMidiProducer(producer), seconds)
        elapsed = time.perf_counter() - started
        after = output.stats()
    return GilResult(
        realtime=realtime,
        switch_interval=interval_during or sys.getswitchinterval(),
        seconds=elapsed,
        expected_callbacks=round(elapsed * SAMPLERATE / BLOCKSIZE),
        callbacks=after.callbacks - before.callbacks,
        underflows=after.underflows - before.underflows,
        overruns=after.overruns - before.overruns,
        max_load=after.max_load,
        steps=steps,
    )


def format_gil_report(results: list[GilResult]) -> str:
    lines = [
        "| real-time mode | switch interval | callbacks (expected) | underflows | overruns |"
        " busy steps |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {'on' if r.realtime else 'off'} | {r.switch_interval * 1e3:.3f} ms"
            f" | {r.callbacks} ({r.expected_callbacks}) | {r.underflows} | {r.overruns}"
            f" | {r.steps} |"
        )
    return "\n".join(lines)


# --- where the callback lives: in this process, or in an AudioProcess ------------------------

PLACEMENTS = ("in-process", "in-process + RealtimeMode", "AudioProcess")
BUSY_THREADS = (0, 1, 2, 4)


@dataclass(frozen=True)
class PlacementResult:
    placement: str
    threads: int
    seconds: float
    expected_callbacks: int
    callbacks: int
    underflows: int


def _silent_factory(samplerate: int) -> Callable[[AudioBlock, BlockEvents], None]:
    return _silence


def measure_placement(
    placement: str, threads: int, seconds: float, device: int | str | None = None
) -> PlacementResult:
    """Render silence for *seconds* with *threads* busy pure-Python threads in this
    process, the callback placed as *placement* says; count callbacks and underflows."""
    output: AudioOutput | AudioProcess
    if placement == "AudioProcess":
        output = AudioProcess(_silent_factory, blocksize=BLOCKSIZE, device=device)
    else:
        _producer, consumer = midi_buffer(16)
        output = AudioOutput(
            consumer,
            _silence,
            samplerate=SAMPLERATE,
            blocksize=BLOCKSIZE,
            device=device,
            realtime=placement != "in-process",
        )
    with output:
        time.sleep(0.3)  # let the stream settle
        before = output.stats()
        with busy_threads(threads):
            started = time.perf_counter()
            time.sleep(seconds)
            after = output.stats()
            elapsed = time.perf_counter() - started
    return PlacementResult(
        placement=placement,
        threads=threads,
        seconds=elapsed,
        expected_callbacks=round(elapsed * SAMPLERATE / BLOCKSIZE),
        callbacks=after.callbacks - before.callbacks,
        underflows=after.underflows - before.underflows,
    )


def measure_placements(seconds: float) -> list[PlacementResult]:
    """Every placement with 0, 1, 2 and 4 busy threads, interleaved by thread count."""
    return [
        measure_placement(placement, threads, seconds)
        for threads in BUSY_THREADS
        for placement in PLACEMENTS
    ]


def format_placement_report(results: list[PlacementResult]) -> str:
    lines = [
        "| busy threads | placement | callbacks (expected) | underflows |",
        "|---:|---|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.threads} | {r.placement} | {r.callbacks} ({r.expected_callbacks}) "
            f"| {r.underflows} |"
        )
    return "\n".join(lines)
