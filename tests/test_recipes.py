"""Every recipe of docs/recipes.md runs, as the script it is, with its names in capitals
pointed at test files, ports and short durations."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from midibuffer.testing.jackd import JackServer
from midibuffer.testing.midi_sender import SenderProcess

from harness import jack_connections, unless_xruns_spoil_it

RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes.md"
CORPUS = Path(__file__).resolve().parent / "data" / "music21"
TIMEOUT = 60


def recipe(index: int, **names: object) -> str:
    """Recipe number *index* (from 0) with the lines ``NAME = ...`` set to *names*."""
    blocks = re.findall(r"```python\n(.*?)```", RECIPES.read_text(), re.S)
    assert len(blocks) == 6
    code: str = blocks[index]
    for name, value in names.items():
        code, count = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", code, flags=re.M)
        assert count == 1, name
    return code


def script(folder: Path, code: str) -> list[str]:
    path = folder / "recipe.py"
    path.write_text(code)
    return [sys.executable, str(path)]


def run(folder: Path, code: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        script(folder, code), cwd=folder, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    return result


def short_file(path: Path) -> Path:
    mido = pytest.importorskip("mido")
    track = mido.MidiTrack()
    for step in range(4):
        track.append(mido.Message("note_on", note=60 + step, velocity=90, time=0))
        track.append(mido.Message("note_off", note=60 + step, time=240))
    mido.MidiFile(tracks=[track]).save(path)
    return path


def test_render_a_midi_file_into_the_synth(tmp_path: Path) -> None:
    mido = pytest.importorskip("mido")
    result = run(tmp_path, recipe(0, MIDI_FILE=str(CORPUS / "test10.mid")))
    seconds = float(result.stdout.split(" s rendered")[0])
    assert seconds == pytest.approx(mido.MidiFile(CORPUS / "test10.mid").length + 1.0, abs=0.01)
    assert (tmp_path / "song.wav").stat().st_size > 44


def test_play_a_midi_file_in_real_time(tmp_path: Path) -> None:
    source = short_file(tmp_path / "short.mid")
    result = run(tmp_path, recipe(1, MIDI_FILE=str(source)))
    assert "8 messages played" in result.stdout
    if "no audio device" in result.stdout:
        assert (tmp_path / "played.wav").stat().st_size > 44


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_osc_controller_to_the_synth(tmp_path: Path) -> None:
    pytest.importorskip("pythonosc", reason="python-osc is not installed (the osc extra)")
    from pythonosc.udp_client import SimpleUDPClient

    port = free_udp_port()
    code = recipe(2, HOST="127.0.0.1", PORT=port, SECONDS=3.0)
    with subprocess.Popen(
        script(tmp_path, code), cwd=tmp_path, stdout=subprocess.PIPE, text=True
    ) as bridge:
        assert bridge.stdout is not None
        assert bridge.stdout.readline().startswith(f"listening on udp 127.0.0.1:{port}")
        client = SimpleUDPClient("127.0.0.1", port)
        client.send_message("/note/on", [0, 60, 100])
        client.send_message("/note/off", [0, 60])
        client.send_message("/note/on", [0, 200, 100])  # out of range: ignored, said so
        client.send_message("/unknown", [1])
        output, _ = bridge.communicate(timeout=TIMEOUT)
    assert bridge.returncode == 0
    lines = output.splitlines()
    assert "note_on channel=0 note=60 velocity=100" in lines[0]
    assert "note_off channel=0 note=60" in lines[1]
    assert lines[2].startswith("ignored: InvalidMidiMessage(")
    assert lines[3].startswith("ignored: KeyError('/unknown')")


NOTES = [[0x90, 60 + n // 2, 90] if n % 2 == 0 else [0x80, 60 + n // 2, 0] for n in range(8)]


def test_a_midi_keyboard_to_the_synth(tmp_path: Path, jack_server: JackServer) -> None:
    pytest.importorskip("rtmidi", reason="python-rtmidi is not installed")
    port = f"recipe-keys-{time.monotonic_ns()}"
    code = recipe(3, KEYBOARD=port, SECONDS=2.0)

    def play() -> str:
        with SenderProcess("virtual", port) as sender:
            with subprocess.Popen(
                script(tmp_path, code), cwd=tmp_path, stdout=subprocess.PIPE, text=True
            ) as synth:
                assert synth.stdout is not None
                assert synth.stdout.readline().startswith("playing: <MidiInput")
                sender.send(NOTES)
                output, _ = synth.communicate(timeout=TIMEOUT)
            assert synth.returncode == 0
        return output

    output = unless_xruns_spoil_it(jack_server, play, lambda out: "received=8," in out)
    assert "received=8, sent=8, dropped=0, invalid=0" in output


def test_record_midi_input_to_a_file(tmp_path: Path, jack_server: JackServer) -> None:
    rtmidi = pytest.importorskip("rtmidi", reason="python-rtmidi is not installed")
    mido = pytest.importorskip("mido")
    port = f"recipe-take-{time.monotonic_ns()}"
    code = recipe(4, KEYBOARD=port, SECONDS=2.0, MIDI_FILE="take.mid")

    def record() -> tuple[str, list[tuple[list[int], float]]]:
        # A witness: a second JACK input on the same port, in this process. JACK hands
        # both inputs the same cycles, so it sees when the messages really arrived (a
        # loaded machine may deliver two of them in one cycle).
        witness = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "recipe-witness")
        try:
            with SenderProcess("virtual", port) as sender:
                with subprocess.Popen(
                    script(tmp_path, code), cwd=tmp_path, stdout=subprocess.PIPE, text=True
                ) as recorder:
                    deadline = time.monotonic() + TIMEOUT
                    while not jack_connections(port):  # the recipe has opened the input
                        assert time.monotonic() < deadline, "the recipe never connected"
                        time.sleep(0.05)
                    names = witness.get_ports()
                    witness.open_port(next(i for i, name in enumerate(names) if port in name))
                    sender.send(NOTES)
                    output, _ = recorder.communicate(timeout=TIMEOUT)
                assert recorder.returncode == 0
            witnessed = list(iter(witness.get_message, None))
        finally:
            witness.delete()
        return output, witnessed

    def whole(result: tuple[str, list[tuple[list[int], float]]]) -> bool:
        output, witnessed = result
        return "8 messages recorded" in output and [data for data, _ in witnessed] == NOTES

    output, witnessed = unless_xruns_spoil_it(jack_server, record, whole)
    assert "8 messages recorded to take.mid" in output
    assert [data for data, _ in witnessed] == NOTES
    take = mido.MidiFile(tmp_path / "take.mid")
    played = [message for message in take if not message.is_meta]
    assert [list(message.bytes()) for message in played] == NOTES
    # The file keeps the timing that JACK delivered, as the witness saw it, within
    # what the arrival clock allows: each input stamps in its own process callback
    # of the same cycle (1.33 ms apart at most) and a tick is 1.04 ms here, so no
    # gap is longer than the witnessed one by 4 ms or more. A gap can be shorter:
    # the clock starts from when the recipe's thread took the first message, and
    # pulls later stamps earlier as prompter takes show that it took it late (by
    # its scheduling delay, which a loaded machine does not bound); the take as a
    # whole still spans at least half of what was played.
    gaps = [message.time for message in played[1:]]
    witnessed_gaps = [delta for _, delta in witnessed[1:]]
    for gap, witnessed_gap in zip(gaps, witnessed_gaps, strict=True):
        assert gap < witnessed_gap + 0.004
    assert sum(gaps) > sum(witnessed_gaps) / 2


def test_the_audio_side_in_its_own_process(tmp_path: Path) -> None:
    result = run(tmp_path, recipe(5, SECONDS=2.0))
    first, *_, last = result.stdout.splitlines()
    assert first == "device" or first.startswith("offline (")
    assert last.startswith("8 events, ")
    if first != "device":
        assert (tmp_path / "process.wav").stat().st_size > 44
