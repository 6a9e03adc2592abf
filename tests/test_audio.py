"""Audio output on a real JACK server: real sounddevice callbacks, captured through JACK."""

from __future__ import annotations

import builtins
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest

from midibuffer import MidiMessage, midi_buffer
from midibuffer.app.bench.gil_cases import measure_gil_scenario
from midibuffer.audio import AudioOutput, import_sounddevice, output_devices
from midibuffer.errors import AudioBackendUnavailable, AudioDeviceNotFound
from midibuffer.io.render import AudioBlock, AudioStats
from midibuffer.scheduler import BlockEvents
from midibuffer.testing.jackd import JackServer

from harness import unless_xruns_spoil_it

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


def exact(result: tuple[np.ndarray, AudioStats]) -> bool:
    found = result[0]
    return len(found) == IMPULSES and bool(np.abs(placement_errors(found)).max() <= 1.0)


def test_events_render_on_their_exact_samples(jack_server: JackServer) -> None:
    # A JACK xrun interrupts the audio itself; such a run is repeated (see harness).
    found, stats = unless_xruns_spoil_it(jack_server, lambda: render_impulses(jack_server), exact)
    assert len(found) == IMPULSES, found
    errors = placement_errors(found)
    assert np.abs(errors).max() <= 1.0, errors
    assert (stats.events, stats.late_events) == (IMPULSES, 0)


@pytest.mark.usefixtures("jack_server")
def test_the_real_time_mode_keeps_a_callback_on_time_next_to_a_busy_event_loop() -> None:
    result = measure_gil_scenario(realtime=True, seconds=2.0)
    # Without the mode, most callbacks are lost or underflow (docs/benchmarks.md).
    assert result.callbacks >= 0.9 * result.expected_callbacks, result
    assert result.underflows <= 0.05 * result.expected_callbacks, result
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
