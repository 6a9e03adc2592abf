"""Audio output on a real JACK server: real sounddevice callbacks, captured through JACK."""

from __future__ import annotations

import builtins
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from midibuffer import MidiMessage, midi_buffer
from midibuffer.app.bench.gil_cases import measure_gil_scenario
from midibuffer.audio import AudioOutput, import_sounddevice, output_devices
from midibuffer.errors import AudioBackendUnavailable, AudioDeviceNotFound
from midibuffer.io.render import AudioBlock, AudioStats
from midibuffer.scheduler import BlockEvents
from midibuffer.testing.jackd import JackServer

from harness import Xruns, with_xruns

RATE = 48_000
BLOCK = 64


def impulses(outdata: AudioBlock, events: BlockEvents) -> None:
    """A render function: silence, and a 1.0 sample at each event's offset."""
    outdata.fill(0)
    for index in range(events.count):
        outdata[events.offsets[index], 0] = 1.0


class Capture:
    """A sounddevice input stream recording into preallocated memory, with its
    input connected (through JACK) to every PortAudio output port."""

    def __init__(self, server: JackServer, seconds: float) -> None:
        sd = import_sounddevice()
        self.samples = np.zeros(int(seconds * RATE), dtype=np.float32)
        self.position = 0
        self.stream = sd.InputStream(
            samplerate=RATE, blocksize=BLOCK, channels=1, dtype="float32", callback=self._record
        )
        self.server = server

    def _record(self, indata: AudioBlock, frames: int, time_info: Any, status: Any) -> None:
        start = self.position
        end = min(start + frames, len(self.samples))
        self.samples[start:end] = indata[: end - start, 0]
        self.position = end

    def connect_from(self, before: set[str]) -> None:
        """Connect the output ports that appeared since *before* to our input."""
        ports = self.server.ports()
        inputs = [p for p in ports if p.startswith("PortAudio") and "in" in p.split(":")[1]]
        outputs = [p for p in ports if p not in before and "out" in p.split(":", 1)[1]]
        assert inputs and outputs, ports
        for output in outputs:
            subprocess.run(["jack_connect", output, inputs[0]], check=True)


@pytest.mark.usefixtures("jack_server")
def test_the_jack_device_is_listed() -> None:
    devices = output_devices()
    assert any(d.host_api == "JACK Audio Connection Kit" and d.is_default for d in devices)


SPACING = 0.012_345_6  # 592.59 samples: not a whole number of samples or blocks
IMPULSES = 100


def render_impulses(server: JackServer) -> tuple[np.ndarray, AudioStats]:
    """Schedule IMPULSES impulses SPACING apart; return where the capture found
    them (through JACK), and the output's stats."""
    before = set(server.ports())
    capture = Capture(server, seconds=4.0)
    producer, consumer = midi_buffer(256)
    capture.stream.start()
    try:
        with AudioOutput(consumer, impulses, samplerate=RATE, blocksize=BLOCK) as output:
            capture.connect_from(before)
            time.sleep(0.5)  # the stream clock settles over the first half second
            first = time.perf_counter() + 0.1  # scheduled well ahead
            for index in range(IMPULSES):
                assert producer.try_send(MidiMessage.note_on(0, 60, time=first + index * SPACING))
            time.sleep(0.1 + IMPULSES * SPACING + 0.1)
    finally:
        capture.stream.close()
    return np.flatnonzero(capture.samples > 0.5), output.stats()


def placement_errors(found: np.ndarray) -> np.ndarray:
    """Each impulse against its ideal (fractional) sample; the output latency,
    a constant, is taken as the median offset."""
    offsets = found - np.arange(len(found)) * SPACING * RATE
    return offsets - np.median(offsets)


SPACING_ERRORS_PER_XRUN = 3
"""How many spacings between consecutive impulses one xrun can put off.

An xrun makes the stream skip: JACK drops the late client's cycles, so the
output renders fewer blocks than time passed, and its clock re-synchronises
within RESYNC_BLOCKS blocks, shifting every later event (1). Events the
jump passed over are late: played together at the start of the current
block, between their neighbours, which puts off the spacing after them too
(2). The clock's new origin comes from one late callback; it then falls
back to the floor of the callback times, a second, small shift (3). The
capture is the same PortAudio JACK client, so it skips the same cycles and
adds no error of its own.
"""


def impulses_touched(xruns: Xruns) -> int:
    """How many impulses the xruns can have disturbed: one xrun spans at most
    XRUN_PERIODS blocks (320 samples, less than SPACING: 592.6), so it
    touches at most one impulse, more only if the driver started that late."""
    return sum(math.ceil(span / SPACING) for span in xruns.spans())


def test_events_render_on_their_exact_samples(jack_server: JackServer) -> None:
    (found, stats), xruns = with_xruns(jack_server, lambda: render_impulses(jack_server))
    assert stats.events == IMPULSES
    if xruns.count == 0:  # every impulse on its sample
        assert len(found) == IMPULSES, found
        errors = placement_errors(found)
        assert np.abs(errors).max() <= 1.0, errors
        assert stats.late_events == 0
        return
    # A JACK xrun interrupts the audio itself: each may move, merge or drop the
    # impulses it touches, and put a bounded number of spacings off. All other
    # spacings are exact: within 2 samples, as two placements within 1 sample are.
    touched = impulses_touched(xruns)
    spacing_errors = np.diff(found) - SPACING * RATE
    off = int(np.count_nonzero(np.abs(spacing_errors) > 2.0))
    print(f"\n{xruns}: {len(found)} impulses, {off} spacings off, {stats}")
    assert abs(len(found) - IMPULSES) <= touched, found
    assert stats.late_events <= touched, stats
    assert off <= SPACING_ERRORS_PER_XRUN * xruns.count, spacing_errors
    # The clock re-synchronises only on a skip, which JACK logs as an xrun.
    assert stats.resyncs <= xruns.count, stats


def cpu_ticks(pid: int | str) -> int:
    """The CPU time (clock ticks) process *pid* has used: user + system."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """All CPUs' (busy, total) clock ticks so far; steal time counts as busy."""
    line = Path("/proc/stat").read_text().splitlines()[0]
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, line.split()[1:9])
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return total - idle - iowait, total


T = TypeVar("T")


def with_foreign_load(server: JackServer, run: Callable[[], T]) -> tuple[T, float]:
    """``run()``'s result, and the share of all CPUs' time that went to anything
    but this process and jackd while it ran (0 where /proc is missing)."""
    if not Path("/proc/stat").exists():
        return run(), 0.0
    ours = ("self", server.process.pid)
    busy, total = machine_ticks()
    own = sum(cpu_ticks(pid) for pid in ours)
    result = run()
    busy_after, total_after = machine_ticks()
    own_after = sum(cpu_ticks(pid) for pid in ours)
    foreign = (busy_after - busy) - (own_after - own)
    return result, max(0.0, foreign / max(1, total_after - total))


def test_the_real_time_mode_keeps_a_callback_on_time_next_to_a_busy_event_loop(
    jack_server: JackServer,
) -> None:
    result, foreign = with_foreign_load(
        jack_server, lambda: measure_gil_scenario(realtime=True, seconds=2.0)
    )
    print(f"\n{result}, foreign CPU load {foreign:.0%}")
    # Without the mode, most callbacks are lost or underflow (docs/benchmarks.md):
    # about half are lost, even on a busy machine.
    assert result.callbacks >= 0.9 * result.expected_callbacks, result
    # With it, the callback waits for the GIL at most a quarter block, while the
    # busy thread that holds it runs. When other processes take its CPU, it
    # cannot give the GIL up, and the callback is late whatever the mode: with
    # a share *foreign* of the CPUs' time busy elsewhere, about that share of
    # the callbacks can fall in such a moment and underflow.
    assert result.underflows <= (0.05 + foreign) * result.expected_callbacks, result
    assert sys.getswitchinterval() == pytest.approx(0.005)  # restored


@pytest.mark.usefixtures("jack_server")
def test_an_exception_in_render_stops_the_stream_and_is_raised_by_close() -> None:
    _producer, consumer = midi_buffer(4)

    def broken(outdata: AudioBlock, events: BlockEvents) -> None:
        raise ZeroDivisionError("render failed")

    output = AudioOutput(consumer, broken, samplerate=RATE, blocksize=BLOCK)
    output.start()
    deadline = time.monotonic() + 5
    while output.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not output.active
    with pytest.raises(ZeroDivisionError, match="render failed"):
        output.close()


@pytest.mark.usefixtures("jack_server")
def test_stats_count_callbacks_and_load() -> None:
    _producer, consumer = midi_buffer(4)
    with AudioOutput(consumer, impulses, samplerate=RATE, blocksize=BLOCK) as output:
        time.sleep(0.3)
    stats = output.stats()
    assert stats.callbacks > 0.2 * RATE / BLOCK
    assert 0 < stats.mean_load <= stats.max_load


@pytest.mark.usefixtures("jack_server")
def test_a_missing_device_is_a_clear_error_listing_the_devices() -> None:
    _producer, consumer = midi_buffer(4)
    with pytest.raises(AudioDeviceNotFound, match=r"no such device.*Output devices: \d+: system"):
        AudioOutput(consumer, impulses, device="no such device")


def test_missing_portaudio_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_portaudio(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    with pytest.raises(AudioBackendUnavailable, match="apt install libportaudio2"):
        import_sounddevice()


def test_missing_sounddevice_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # makes the import fail
    with pytest.raises(AudioBackendUnavailable, match=r"pip install 'midibuffer\[audio\]'"):
        import_sounddevice()


def test_importing_midibuffer_imports_no_audio_or_midi_library() -> None:
    code = (
        "import sys, midibuffer\n"
        "print(sorted({'sounddevice', 'numpy', 'rtmidi'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
