"""The seed's pattern, all real: rtmidi -> MidiInput -> buffer -> sounddevice callback, on JACK.

A separate process sends numbered messages through rtmidi's JACK output; a
``MidiInput`` attached to a producer takes them from rtmidi's queue on its
polling thread (the default), so no Python runs on JACK's thread; an
``AudioOutput`` pops them in its sounddevice callback on the same JACK
server. No run is retried. Every message must arrive, intact and in order,
unless jackd logged a late MIDI client during the run: JACK itself then
drops that cycle's messages or garbles them on the way to the input (it
does so between idle C-only clients too), and only as many as those xruns
can disturb may be missing or garbled. The input passes on every message
rtmidi gave it. The latency from the send to the audio
callback is recorded.
"""

from __future__ import annotations

import statistics
import time
import uuid

import pytest

from midibuffer import MidiMessage, midi_buffer
from midibuffer.audio import AudioOutput
from midibuffer.io.render import AudioBlock
from midibuffer.scheduler import BlockEvents
from midibuffer.testing.jackd import JackServer
from midibuffer.testing.midi_sender import SenderProcess

from harness import Arrivals, midi_xruns, wait_for_arrivals, with_xruns

rtmidi = pytest.importorskip("rtmidi", reason="python-rtmidi is not installed")

from midibuffer.rtmidi import MidiInputStats, open_input  # noqa: E402

MESSAGES = 2_000
RATE = 48_000
BLOCK = 64


class Recorder:
    """A render function that records what the audio callback got, and when."""

    def __init__(self) -> None:
        self.messages: list[MidiMessage] = []
        self.offsets: list[int] = []
        self.popped_at: list[float] = []

    def __call__(self, outdata: AudioBlock, events: BlockEvents) -> None:
        outdata.fill(0)
        if events.count:
            now = time.perf_counter()
            for offset, message in events:
                self.messages.append(message)
                self.offsets.append(offset)
                self.popped_at.append(now)


def stream_into_audio_callback() -> tuple[Recorder, list[float], MidiInputStats]:
    # The buffer holds every message: a stalled audio callback (a PortAudio
    # xrun) delays messages but cannot lose them, so only the MIDI clients'
    # xruns can (see harness.midi_xruns).
    producer, consumer = midi_buffer(MESSAGES)
    recorder = Recorder()
    port = f"midibuffer-e2e-{uuid.uuid4().hex[:8]}"
    with (
        AudioOutput(consumer, recorder, samplerate=RATE, blocksize=BLOCK, mode="live"),
        SenderProcess("virtual", port) as sender,
        open_input(port, producer, api=rtmidi.API_UNIX_JACK) as midi_input,
    ):
        sender.start(MESSAGES)
        send_times = sender.send_times()
        wait_for_arrivals(lambda: len(recorder.messages), MESSAGES)
    return recorder, send_times, midi_input.stats()


def test_rtmidi_to_a_sounddevice_callback_on_jack(jack_server: JackServer) -> None:
    (recorder, send_times, stats), xruns = with_xruns(jack_server, stream_into_audio_callback)
    numbers = [m.control * 128 + m.value for m in recorder.messages]
    arrivals = Arrivals.judge(numbers, MESSAGES, send_times, midi_xruns(xruns))
    if arrivals.xruns.count == 0:
        assert numbers == list(range(MESSAGES))
    assert arrivals.acceptable(), f"{len(numbers)} of {MESSAGES} arrived; {arrivals}"
    arrived = len(numbers)
    assert stats == MidiInputStats(arrived, arrived, 0, 0, 0, None, 0, 0, 0)
    assert all(0 <= offset < BLOCK for offset in recorder.offsets)

    to_callback = [p - send_times[n] for p, n in zip(recorder.popped_at, numbers, strict=True)]
    stamped = [m.time - send_times[n] for m, n in zip(recorder.messages, numbers, strict=True)]  # type: ignore[operator]
    assert min(to_callback) > 0
    p99 = statistics.quantiles(to_callback, n=100)[98]
    print(
        f"\nrtmidi -> audio callback on JACK, {len(numbers)} of {MESSAGES} messages "
        f"({arrivals}): "
        f"send -> stamp p50 {statistics.median(stamped) * 1e3:.3f} ms; send -> audio "
        f"callback p50 {statistics.median(to_callback) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, "
        f"max {max(to_callback) * 1e3:.3f} ms"
    )
    assert p99 < 0.050  # generous: a loaded machine; the figures are printed above
