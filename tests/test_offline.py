"""OfflineOutput: the audio callback on a simulated real-time clock, recorded to WAV."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np
import pytest

from midibuffer import MidiMessage, midi_buffer
from midibuffer.io.render import AudioBlock
from midibuffer.offline import OfflineOutput
from midibuffer.scheduler import BlockEvents, BlockScheduler
from midibuffer.synth import PolySynth

from harness import wait_for

RATE = 48_000


def test_it_keeps_real_time_pace_and_places_events_on_their_samples() -> None:
    producer, consumer = midi_buffer(16)

    def impulses(outdata: AudioBlock, events: BlockEvents) -> None:
        outdata.fill(0)
        for index in range(events.count):
            outdata[events.offsets[index], 0] = 1.0

    with OfflineOutput(consumer, impulses, samplerate=RATE, blocksize=64) as output:
        clock = output.renderer.scheduler.clock
        started = time.perf_counter()
        output.wait(0.2)  # the clock settles
        origin = clock.origin
        assert origin is not None
        first = time.perf_counter() + 0.05
        for index in range(10):
            producer.try_send(MidiMessage.note_on(0, 60, time=first + index * 0.01))
        output.wait(0.25)
        elapsed = time.perf_counter() - started
    assert output.frames == pytest.approx(elapsed * RATE, rel=0.1)
    found = np.flatnonzero(output.audio()[:, 0])
    assert len(found) == 10
    # 10 ms apart, to the sample, give or take how far the clock's origin still moved
    # while they played (it settles on the earliest block seen: a block that wakes up
    # sooner than all before it moves it, by its wake-up jitter).
    assert clock.origin is not None
    moved = abs(clock.origin - origin) * RATE
    assert np.abs(np.diff(found) - 480).max() <= 1 + moved
    assert output.stats().late_events == 0


def test_it_writes_a_wav_file_of_what_it_rendered(tmp_path: Path) -> None:
    producer, consumer = midi_buffer(16)
    started = time.perf_counter()
    with OfflineOutput(consumer, PolySynth(RATE), samplerate=RATE, blocksize=128) as output:
        producer.try_send(MidiMessage.note_on(0, 69, 100))
        output.wait(0.2)
    elapsed = time.perf_counter() - started
    path = output.write_wav(tmp_path / "out.wav")
    with wave.open(str(path)) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (2, 2, RATE)
        pcm = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
    assert len(pcm) == output.frames * 2
    # On a real-time clock: no more than the time it ran (and the block it
    # renders at once on start), and most of the 0.2 s it was given.
    assert 0.1 * RATE <= output.frames <= elapsed * RATE + 128
    assert np.abs(pcm).max() > 1000
    # Note 69 is A4: 440 Hz dominates (a 1 Hz grid: zero-padded to a second).
    left = pcm.reshape(-1, 2)[:, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(left, n=max(len(left), RATE)))
    frequencies = np.fft.rfftfreq(max(len(left), RATE), d=1 / RATE)
    assert frequencies[np.argmax(spectrum)] == pytest.approx(440, abs=5)


def test_an_exception_in_render_is_raised_by_close() -> None:
    _producer, consumer = midi_buffer(4)

    def broken(outdata: AudioBlock, events: BlockEvents) -> None:
        raise ZeroDivisionError("render failed")

    output = OfflineOutput(consumer, broken)
    output.start()
    wait_for(lambda: not output.active)  # the first block raised: the thread ended
    with pytest.raises(ZeroDivisionError, match="render failed"):
        output.close()


def test_a_failing_render_closes_the_consumer_before_its_error_is_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whoever sees output.error (here the main thread; for an AudioProcess,
    # the child's control loop answering the parent) must already see the
    # producer abandoned: the error is published after the consumer closes.
    producer, consumer = midi_buffer(4)

    def broken(outdata: AudioBlock, events: BlockEvents) -> None:
        raise ZeroDivisionError("render failed")

    output = OfflineOutput(consumer, broken)
    error_when_closing: list[BaseException | None] = []
    close = BlockScheduler.close

    def recording_close(scheduler: BlockScheduler) -> None:
        error_when_closing.append(output.error)
        close(scheduler)

    monkeypatch.setattr(BlockScheduler, "close", recording_close)
    output.start()
    wait_for(lambda: output.error is not None)
    assert isinstance(output.error, ZeroDivisionError)
    assert producer.is_abandoned()
    assert error_when_closing[0] is None  # not yet visible while the consumer closed
    with pytest.raises(ZeroDivisionError, match="render failed"):
        output.close()
