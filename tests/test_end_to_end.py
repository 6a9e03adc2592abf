"""The seed's pattern, all real: rtmidi -> MidiInput -> buffer -> sounddevice callback, on JACK.

A separate process sends numbered messages through rtmidi's JACK output; a
``MidiInput`` attached to a producer receives them on JACK's thread; an
``AudioOutput`` pops them in its sounddevice callback on the same JACK
server. Every message must arrive, in order, and the latency from the send
to the audio callback is recorded.
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

from harness import unless_xruns_spoil_it
from midi_sender import SenderProcess

rtmidi = pytest.importorskip("rtmidi", reason="python-rtmidi is not installed")

from midibuffer.rtmidi import open_input  # noqa: E402

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


def stream_into_audio_callback() -> tuple[Recorder, list[float]]:
    producer, consumer = midi_buffer(256)
    recorder = Recorder()
    port = f"midibuffer-e2e-{uuid.uuid4().hex[:8]}"
    with (
        AudioOutput(consumer, recorder, samplerate=RATE, blocksize=BLOCK, mode="live"),
        SenderProcess("virtual", port) as sender,
        open_input(port, producer, api=rtmidi.API_UNIX_JACK),
    ):
        sender.start(MESSAGES)
        send_times = sender.send_times()
        deadline = time.monotonic() + 10
        while len(recorder.messages) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.01)
    return recorder, send_times


def arrived_in_order(result: tuple[Recorder, list[float]]) -> bool:
    numbers = [m.control * 128 + m.value for m in result[0].messages]
    return numbers == list(range(MESSAGES))


def test_rtmidi_to_a_sounddevice_callback_on_jack(jack_server: JackServer) -> None:
    recorder, send_times = unless_xruns_spoil_it(
        jack_server, stream_into_audio_callback, arrived_in_order
    )
    assert arrived_in_order((recorder, send_times)), f"{len(recorder.messages)} arrived"
    assert all(0 <= offset < BLOCK for offset in recorder.offsets)

    to_callback = [p - s for p, s in zip(recorder.popped_at, send_times, strict=True)]
    stamped = [m.time - s for m, s in zip(recorder.messages, send_times, strict=True)]  # type: ignore[operator]
    assert min(to_callback) > 0
    p99 = statistics.quantiles(to_callback, n=100)[98]
    print(
        f"\nrtmidi -> audio callback on JACK, {MESSAGES} messages: send -> rtmidi callback "
        f"p50 {statistics.median(stamped) * 1e3:.3f} ms; send -> audio callback "
        f"p50 {statistics.median(to_callback) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, "
        f"max {max(to_callback) * 1e3:.3f} ms"
    )
    assert p99 < 0.050  # generous: a loaded machine; the figures are printed above
