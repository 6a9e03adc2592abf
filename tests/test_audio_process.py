"""AudioProcess: the audio side in a child process, fed through a shared ring."""

from __future__ import annotations

import functools
import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from midibuffer import MidiMessage
from midibuffer.audio import AudioProcess, AudioProcessError, AudioStats
from midibuffer.buffer import CORE
from midibuffer.testing.jackd import JackServer
from midibuffer.testing.load import busy_threads
from midibuffer.testing.midi_sender import SenderProcess

import audio_process_children as children
from harness import (
    Arrivals,
    midi_xruns,
    own_segments,
    unless_xruns_spoil_it,
    wait_for,
    wait_for_arrivals,
    with_xruns,
)

pytestmark = pytest.mark.skipif(CORE != "c", reason="the shared ring needs the C core")

RATE = 48_000
BLOCK = 64
MIDI_MESSAGES = 2_000


@pytest.fixture(autouse=True)
def no_segment_left() -> Iterator[None]:
    before = own_segments()
    yield
    gc.collect()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        left = own_segments() - before
        if not left:
            break
        time.sleep(0.01)
    assert not left


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def test_an_offline_audio_process_receives_every_event_and_writes_the_wav(tmp_path: Path) -> None:
    wav = tmp_path / "out.wav"
    with AudioProcess(children.impulses, blocksize=BLOCK, offline=True, wav=wav) as audio:
        assert audio.reason == "offline rendering was asked for"
        assert audio.pid is not None and audio.pid != os.getpid()
        start = time.perf_counter() + 1.0  # a lead no stall of a loaded machine ate, so far
        for index in range(200):
            message = MidiMessage.note_on(0, 60, 100, time=start + index * 0.002)
            assert audio.producer.try_send(message)
        deadline = time.monotonic() + 20
        while audio.stats().events < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = audio.stats()
        pid = audio.pid
    assert (stats.events, stats.untimed, stats.misdated) == (200, 0, 0)
    assert process_gone(pid)
    with wave.open(str(wav)) as file:
        frames = file.readframes(file.getnframes())
        assert (file.getnchannels(), file.getframerate()) == (2, RATE)
    left = np.frombuffer(frames, dtype="<i2")[0::2]
    peaks = np.flatnonzero(left > 10_000)
    wrong = np.abs(np.diff(peaks) - 0.002 * RATE) > 1  # spacings not on their samples
    # Exact unless the child's renderer stalled (a loaded machine): each late
    # event or clock resync it counted may misplace one impulse (two spacings),
    # and late events sharing a block's offset 0 merge into one impulse.
    disturbed = stats.late_events + stats.resyncs
    assert len(peaks) >= 200 - disturbed
    assert int(wrong.sum()) <= 2 * disturbed, (stats, np.diff(peaks)[wrong])


def test_a_failing_factory_raises_in_the_parent_with_its_message() -> None:
    audio = AudioProcess(children.failing_factory, offline=True, samplerate=44_100)
    with pytest.raises(children.Boom, match="no renderer at 44100 Hz"):
        audio.start()
    assert isinstance(audio.error, children.Boom)
    assert process_gone(audio.pid)  # type: ignore[arg-type]
    audio.producer.close()


def test_a_failing_render_is_carried_to_the_parent() -> None:
    audio = AudioProcess(children.failing_render, offline=True)
    audio.start()
    audio.producer.try_send(MidiMessage.clock())
    deadline = time.monotonic() + 10
    while audio.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(audio.error, children.Boom)
    assert audio.producer.is_abandoned()  # the child's output closed its consumer
    with pytest.raises(children.Boom, match="render failed in the audio process"):
        audio.close()


def test_close_stops_the_child_within_a_second_and_leaves_the_parent_alone() -> None:
    interval, frozen = sys.getswitchinterval(), gc.get_freeze_count()
    audio = AudioProcess(children.silent, offline=True, realtime=True)
    audio.start()
    assert (sys.getswitchinterval(), gc.get_freeze_count()) == (interval, frozen)
    pid = audio.pid
    assert pid is not None
    wait_for(lambda: audio.stats().callbacks > 0)
    rendered = audio.stats().callbacks
    started = time.monotonic()
    audio.close()
    assert time.monotonic() - started < 1.0
    assert process_gone(pid)
    assert audio.stats().callbacks >= rendered > 0  # the last stats the child reported
    audio.close()  # idempotent


def test_the_child_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from midibuffer.audio import AudioProcess
        import audio_process_children as children

        if __name__ == "__main__":
            audio = AudioProcess(children.silent, offline=True)
            audio.start()
            print(audio.pid, flush=True)
            time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parent)},
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert not process_gone(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    killed = time.monotonic()
    while not process_gone(child):
        assert time.monotonic() - killed < 3.0, "the audio process outlived its parent"
        time.sleep(0.01)


def test_on_jack_two_busy_parent_threads_cannot_starve_the_callback(
    jack_server: JackServer,
) -> None:
    seconds = 3.0
    expected = seconds * RATE / BLOCK

    def play() -> tuple[int, AudioStats]:
        with AudioProcess(children.silent, blocksize=BLOCK) as audio:
            assert audio.reason is None  # a device plays: JACK
            before = audio.stats()
            with busy_threads(2):  # pure Python: they take turns with the GIL
                time.sleep(seconds)
                after = audio.stats()
        return after.callbacks - before.callbacks, after

    # A run in which jackd itself fell behind (it logs xruns: it skipped cycles, so no
    # client could run them) is retried, as the other short JACK runs are; a run short
    # of callbacks without an xrun fails.
    ran, after = unless_xruns_spoil_it(
        jack_server, play, lambda result: result[0] >= 0.9 * expected
    )
    # In-process, two busy threads let about a quarter of the callbacks run
    # (docs/benchmarks.md); in its own process the callback keeps its pace.
    assert ran >= 0.9 * expected, (ran, expected, after)


def test_a_child_that_dies_during_start_up_leaves_no_segment() -> None:
    audio = AudioProcess(children.Unloadable(), offline=True)
    with pytest.raises(AudioProcessError, match=r"exited during start-up .* module level"):
        audio.start()
    assert process_gone(audio.pid)  # type: ignore[arg-type]
    # (the autouse fixture checks /dev/shm)


def logged_from_the_sender(log: Path) -> list[str]:
    """The complete lines of *log* (``children.recording``) with a control change
    from the MIDI sender; the child may be writing the last line."""
    lines = log.read_text().split("\n")[:-1] if log.exists() else []
    return [line for line in lines if line.split()[1].startswith("b0")]


def test_the_child_opens_the_midi_input_itself_and_merges_it_with_the_parent(
    tmp_path: Path, jack_server: JackServer
) -> None:
    """A sender process connects to the audio process's own virtual MIDI input: every
    message reaches the render function, in order, each at an offset inside its block,
    merged with what the parent sends; the parent's GIL is busy all along. Judged like
    the other long JACK runs (``harness.Arrivals``): exact unless jackd logged a late
    MIDI client, and the input passes on every message rtmidi gave it."""
    log = tmp_path / "events.txt"
    name = f"audio-process-in-{os.getpid()}"
    with (
        AudioProcess(
            functools.partial(children.recording, str(log)),
            blocksize=256,
            offline=True,
            virtual_midi_input=name,
        ) as audio,
        busy_threads(2),
    ):

        def run() -> list[float]:
            with SenderProcess("connect", name) as sender:
                sender.start(MIDI_MESSAGES)
                audio.producer.try_send(MidiMessage.sysex([0x7D, 1], time=time.perf_counter()))
                send_times = sender.send_times()
            wait_for_arrivals(lambda: getattr(audio.midi_input_stats(), "sent", 0), MIDI_MESSAGES)
            return send_times

        send_times, xruns = with_xruns(jack_server, run)
        stats = audio.midi_input_stats()
        assert stats is not None
        # What the input sent plays a block or so later: wait until it is logged.
        wait_for_arrivals(lambda: len(logged_from_the_sender(log)), stats.sent)
    events = [line.split() for line in log.read_text().splitlines()]
    data = [bytes.fromhex(hexed) for _, hexed in events]
    from_the_sender = [message for message in data if message[0] == 0xB0]
    numbers = [message[1] * 128 + message[2] for message in from_the_sender]
    arrivals = Arrivals.judge(numbers, MIDI_MESSAGES, send_times, midi_xruns(xruns))
    if arrivals.xruns.count == 0:
        assert numbers == list(range(MIDI_MESSAGES))
    assert arrivals.acceptable(), f"{len(numbers)} of {MIDI_MESSAGES} arrived; {arrivals}"
    assert data.count(bytes([0xF0, 0x7D, 0x01, 0xF7])) == 1  # the parent's, merged in
    positions = [int(position) for position, _ in events]
    assert positions == sorted(positions)
    assert stats.received == stats.sent == len(numbers)


def test_midi_input_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="not both"):
        AudioProcess(children.silent, midi_input="a", virtual_midi_input="b")
    with pytest.raises(TypeError, match="midi_input must be a str"):
        AudioProcess(children.silent, midi_input=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="virtual_midi_input must be a str"):
        AudioProcess(children.silent, virtual_midi_input=b"x")  # type: ignore[arg-type]
    assert AudioProcess(children.silent, offline=True).midi_input_stats() is None


@pytest.mark.usefixtures("jack_server")
def test_a_midi_input_that_is_not_there_fails_the_start_with_the_port_list() -> None:
    from midibuffer.errors import MidiPortNotFound

    audio = AudioProcess(children.silent, offline=True, midi_input="no-such-port-anywhere")
    with pytest.raises(MidiPortNotFound, match=r"'no-such-port-anywhere'.*available input ports"):
        audio.start()
