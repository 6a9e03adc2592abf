"""The ``midibuffer`` command: demo, bench, ports, monitor, and one-line errors."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import pty
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

import midibuffer as midibuffer_package
from midibuffer.app.demo import pattern
from midibuffer.testing.jackd import JackServer
from midibuffer.testing.midi_sender import SenderProcess

from harness import jack_connections, unless_xruns_spoil_it

NO_JACK = {
    key: value for key, value in os.environ.items() if not key.startswith("JACK_DEFAULT")
} | {"JACK_NO_START_SERVER": "1"}


def midibuffer(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "midibuffer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def wav_peak(path: Path) -> float:
    with wave.open(str(path)) as file:
        pcm = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
    return float(np.abs(pcm).max()) / 32767


def test_demo_without_an_audio_device_renders_a_wav_and_says_so(tmp_path: Path) -> None:
    result = midibuffer("demo", "--duration", "2", cwd=tmp_path, env=NO_JACK)
    assert result.returncode == 0, result.stderr
    notice = [line for line in result.stderr.splitlines() if line.startswith("No audio output")]
    assert len(notice) == 1 and "midibuffer-demo.wav" in notice[0]
    assert "messages through the buffer (0 dropped" in result.stdout
    assert wav_peak(tmp_path / "midibuffer-demo.wav") > 0.05
    assert "Traceback" not in result.stderr


def test_demo_renders_to_the_wav_file_asked_for(tmp_path: Path) -> None:
    result = midibuffer("demo", "--duration", "1.5", "--output", "out.wav", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "0 late events" in result.stdout
    assert wav_peak(tmp_path / "out.wav") > 0.05


@pytest.mark.usefixtures("jack_server")
def test_demo_plays_on_a_real_audio_device() -> None:
    result = midibuffer("demo", "--duration", "1.5", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "to audio device 'system'" in result.stdout


@pytest.mark.usefixtures("jack_server")
def test_ports_lists_midi_backends_and_audio_devices() -> None:
    result = midibuffer("ports")
    assert result.returncode == 0, result.stderr
    assert "Jack: inputs:" in result.stdout
    assert "system (JACK Audio Connection Kit" in result.stdout


def test_ports_without_any_backend_gives_hints() -> None:
    result = midibuffer("ports", env=NO_JACK)
    assert result.returncode == 0, result.stderr
    midi, audio = result.stdout.split("Audio output devices")
    hints = ("start jackd", "jackd -d dummy", "pip install", "apt install")
    assert any(hint in midi for hint in hints), midi
    assert any(hint in audio for hint in hints), audio


def test_monitor_prints_what_comes_through_the_buffer(jack_server: JackServer) -> None:
    port = f"monitor-{os.getpid()}"
    monitor = subprocess.Popen(
        [sys.executable, "-m", "midibuffer", "monitor", port, "--virtual", "--seconds", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not any(port in name for name in jack_server.ports()):
            assert time.monotonic() < deadline, "the monitor's port never appeared"
            time.sleep(0.05)
        with SenderProcess("connect", port) as sender:
            sender.send([[0x90, 60, 100], [0x80, 60, 0], [0xB0, 74, 10]])
        out, err = monitor.communicate(timeout=20)
    finally:
        monitor.kill()
    assert monitor.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert "note_on channel=0 note=60 velocity=100" in lines[0]
    assert "control=74 value=10" in lines[2]
    assert "received=3, sent=3" in err


@pytest.mark.usefixtures("jack_server")
def test_a_missing_port_is_one_line_not_a_traceback() -> None:
    result = midibuffer("monitor", "no such port anywhere")
    assert result.returncode == 1
    assert result.stderr.startswith("midibuffer monitor: no MIDI input")
    assert "no such port anywhere" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_extra_names_the_pip_command() -> None:
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "from midibuffer.app.cli import main; sys.exit(main(['demo', '--duration', '1']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "midibuffer demo: the demo's synthesizer needs numpy: pip install 'midibuffer[audio]'"
    )


def test_bench_prints_the_tables_and_draws_the_plot(tmp_path: Path) -> None:
    plot = tmp_path / "bench.png"
    result = midibuffer("bench", "--suite", "buffer", "--rounds", "1", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    assert "| pop (non-empty) | midibuffer try_pop |" in result.stdout
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "midibuffer"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout == midibuffer("--help").stdout


def test_version_has_one_source() -> None:
    result = midibuffer("--version")
    assert result.returncode == 0
    assert result.stdout == f"midibuffer {midibuffer_package.__version__}\n"
    assert importlib.metadata.version("midibuffer") == midibuffer_package.__version__


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--duration", "abc"], "--duration: must be a positive number, got 'abc'"),
        (["--duration", "-2"], "--duration: must be a positive number, got '-2'"),
        (["--duration", "nan"], "--duration: must be a positive number, got 'nan'"),
        (["--samplerate", "10"], "--samplerate: must be from 1000 to 768000, got 10"),
        (["--samplerate", "44.1k"], "--samplerate: must be a whole number from 1000 to 768000"),
        (["--blocksize", "0"], "--blocksize: must be from 1 to 65536, got 0"),
        (["--blocksize", "100000"], "--blocksize: must be from 1 to 65536, got 100000"),
    ],
)
def test_option_errors_read_naturally(arguments: list[str], message: str) -> None:
    result = midibuffer("demo", *arguments)
    assert result.returncode == 1
    assert result.stderr.startswith(f"midibuffer demo: {message}")
    assert len(result.stderr.splitlines()) == 1
    assert "_positive" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["missing directory", "a directory", "read-only directory"])
def test_an_unwritable_output_fails_before_rendering(tmp_path: Path, where: str) -> None:
    target = {
        "missing directory": tmp_path / "nowhere" / "out.wav",
        "a directory": tmp_path,
        "read-only directory": Path("/proc/out.wav"),  # not writable, even by root
    }[where]
    started = time.monotonic()
    result = midibuffer("demo", "--duration", "30", "--output", str(target), cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 10  # rendering first would take the 30 s of the piece
    (line,) = result.stderr.splitlines()
    assert line.startswith("midibuffer demo: --output: ") and str(target) in line
    assert result.stdout == ""
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.usefixtures("jack_server")
def test_a_device_that_matches_nothing_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    result = midibuffer("demo", "--duration", "1", "--device", "no such device", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("midibuffer demo: cannot open output device 'no such device'")
    assert "Output devices: " in line and "system" in line  # it lists the JACK device
    assert list(tmp_path.iterdir()) == []  # no offline rendering happened


def test_ctrl_c_closes_the_streams_writes_what_was_rendered_and_exits_130(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "midibuffer", "demo", "--duration", "60", "--output", "out.wav"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stderr is not None
        first_status = demo.stderr.readline()  # printed once a second of playing
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    finally:
        demo.kill()
    assert demo.returncode == 130, err
    assert "Traceback" not in err
    assert first_status.split()[1:3] == ["s", "messages"]
    assert out.rstrip().endswith("to out.wav (interrupted)")
    with wave.open(str(tmp_path / "out.wav")) as file:
        frames = file.getnframes()
    # Exactly what was rendered (the summary's blocks of 128 frames), which is
    # some of the piece, not all of it: how much depends on the machine's load.
    blocks = int(out.split(" audio blocks")[0].rsplit(" ", 1)[1])
    assert frames == blocks * 128
    assert 0 < frames < 60 * 48_000


def test_the_status_line_is_rewritten_only_on_a_terminal(tmp_path: Path) -> None:
    result = midibuffer("demo", "--duration", "2.5", "--output", "log.wav", cwd=tmp_path)
    assert result.returncode == 0
    assert "\r" not in result.stderr
    status = [line for line in result.stderr.splitlines() if "messages" in line]
    assert status and all(line.split()[1:3] == ["s", "messages"] for line in status)

    leader, follower = pty.openpty()
    demo = subprocess.Popen(
        [sys.executable, "-m", "midibuffer", "demo", "--duration", "1.5", "--output", "tty.wav"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    with contextlib.suppress(OSError):  # EIO once the demo closed the terminal
        while chunk := os.read(leader, 4096):
            seen += chunk
    os.close(leader)
    assert demo.wait(timeout=30) == 0
    assert b"\r" in seen and b"messages" in seen


@pytest.mark.usefixtures("jack_server")
def test_ports_lists_long_jack_port_names_in_full() -> None:
    long_name = "a port name much longer than any column would allow " + "x" * 40
    with SenderProcess("virtual", long_name):
        result = midibuffer("ports")
    assert result.returncode == 0, result.stderr
    assert f"midibuffer-test-sender:{long_name}" in result.stdout


def test_demo_in_an_audio_process_renders_the_same_piece(tmp_path: Path) -> None:
    result = midibuffer(
        "demo",
        "--audio-process",
        "--duration",
        "1.5",
        "--output",
        "ap.wav",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"{len(list(pattern(1.5)))} messages through the buffer (0 dropped"
    )
    assert "0 late events" in result.stdout and "to ap.wav" in result.stdout
    assert wav_peak(tmp_path / "ap.wav") > 0.05


@pytest.mark.parametrize("placement", ["in-process", "audio-process"])
def test_demo_plays_along_with_a_live_midi_input(
    tmp_path: Path, jack_server: JackServer, placement: str
) -> None:
    """A sender process plays 20 notes into the demo's --midi-in; with --audio-process the
    audio process opens that input itself. Every one is played. (A short run through
    JACK: one that went wrong while jackd logged an xrun is repeated, see
    harness.unless_xruns_spoil_it; one that went wrong without fails.)"""
    port = f"demo-keys-{placement}-{os.getpid()}"
    notes = [[0x80 if n % 2 else 0x90, 60 + n // 2, 90] for n in range(20)]
    extra = ["--audio-process"] if placement == "audio-process" else []
    command = [sys.executable, "-m", "midibuffer", "demo", "--midi-in", port, "--duration", "3"]
    command += ["--output", "live.wav", "--quiet", *extra]

    def run() -> tuple[int | None, str, str]:
        with SenderProcess("virtual", port) as sender:
            demo = subprocess.Popen(
                command,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 60
            while not jack_connections(port):
                assert demo.poll() is None, demo.communicate()
                assert time.monotonic() < deadline, "the demo never connected to the sender"
                time.sleep(0.05)
            sender.send(notes)
            out, err = demo.communicate(timeout=60)
        return demo.returncode, out, err

    returncode, out, err = unless_xruns_spoil_it(
        jack_server, run, lambda result: ", 20 live;" in result[1]
    )
    assert returncode == 0, err
    assert ", 20 live;" in out, out


# --- midibuffer play ------------------------------------------------------------------------

CORPUS = Path(__file__).resolve().parent / "data" / "music21"


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as file:
        return file.getnframes() / file.getframerate()


def short_file(path: Path) -> tuple[Path, int]:
    """A 1.25 s type 1 file of two tracks (a tempo change in the first), and how many
    channel messages it holds."""
    import mido

    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=500_000),
            mido.MetaMessage("set_tempo", tempo=250_000, time=480),
        ]
    )
    notes = mido.MidiTrack()
    for step in range(8):  # eighth notes: 4 at 120 bpm (0.5 s), 4 at 240 bpm (0.25 s)
        notes.append(
            mido.Message("note_on", note=60 + step, velocity=90, time=0 if step == 0 else 120)
        )
        notes.append(mido.Message("note_off", note=60 + step, time=120))
    mido.MidiFile(type=1, tracks=[conductor, notes]).save(path)
    return path, 16


def test_play_fast_renders_a_real_file_to_a_wav_file(tmp_path: Path) -> None:
    import mido

    source = CORPUS / "test10.mid"  # type 0, four tempo changes, 10 s
    messages = sum(1 for message in mido.MidiFile(source) if not message.is_meta)
    result = midibuffer("play", str(source), "--fast", "--output", "fast.wav", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{messages} messages rendered: ")
    length = mido.MidiFile(source).length
    seconds = wav_seconds(tmp_path / "fast.wav")
    assert length + 1.0 <= seconds < length + 1.0 + 128 / 48_000 + 1e-9  # a 1 s release tail
    assert wav_peak(tmp_path / "fast.wav") > 0.01
    default = midibuffer("play", str(source), "--fast", "--samplerate", "8000", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "test10.wav").exists()  # FILE.wav in the current directory


@pytest.mark.parametrize("placement", ["in-process", "audio-process"])
def test_play_sends_a_file_through_the_buffer_in_real_time(placement: str, tmp_path: Path) -> None:
    """Every run plays the whole file in real time and drops nothing. No message
    comes late on a machine that keeps up; a loaded one may stall the player or
    the renderer past the 0.1 s lead (``PLAY_LEAD``), so a run with late events
    is tried again: one of three runs must have none."""
    source, messages = short_file(tmp_path / "short.mid")
    extra = ["--audio-process"] if placement == "audio-process" else []
    with_late_events: list[str] = []
    for _ in range(3):
        started = time.monotonic()
        result = midibuffer(
            "play", str(source), "--output", "live.wav", "--quiet", *extra, cwd=tmp_path
        )
        took = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{messages} messages through the buffer (0 dropped"), (
            result.stdout
        )
        assert took >= 1.0  # real time: the file lasts a second
        assert wav_seconds(tmp_path / "live.wav") >= 1.0
        assert wav_peak(tmp_path / "live.wav") > 0.01
        if ", 0 late events," in result.stdout:
            break
        with_late_events.append(result.stdout)
    else:
        pytest.fail(f"every run had late events: {with_late_events}")


def test_play_shows_progress_through_the_file_on_a_terminal(tmp_path: Path) -> None:
    source, _ = short_file(tmp_path / "short.mid")
    primary, secondary = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "midibuffer", "play", str(source), "--output", "live.wav"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=secondary,
        text=True,
    ) as player:
        os.close(secondary)
        chunks = []
        with contextlib.suppress(OSError):  # EIO once the child closed the terminal
            while chunk := os.read(primary, 4096):
                chunks.append(chunk)
        player.wait(timeout=60)
    os.close(primary)
    shown = b"".join(chunks).decode()
    assert player.returncode == 0
    import mido

    assert f"/{mido.MidiFile(source).length:.1f} s  messages" in shown  # elapsed / total
    assert "[" in shown and "#" in shown  # the progress bar


def oversized_sysex_file(path: Path) -> Path:
    """A type 0 file whose only event is a SysEx longer than MidiMessage takes."""
    payload = bytes(70_000)
    length = len(payload) + 1
    varlen = bytes([0x80 | (length >> 14) & 0x7F, 0x80 | (length >> 7) & 0x7F, length & 0x7F])
    track = b"\x00\xf0" + varlen + payload + b"\xf7\x00\xff\x2f\x00"
    header = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0"
    path.write_bytes(header + b"MTrk" + len(track).to_bytes(4, "big") + track)
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda folder: folder / "missing.mid", "cannot read '{path}': No such file or directory"),
        (lambda folder: folder, "cannot read '{path}': Is a directory"),
        (
            lambda folder: (
                (folder / "text.mid").write_text("not a MIDI file at all") and folder / "text.mid"
            ),
            "not a Standard MIDI File (",
        ),
        (lambda folder: oversized_sysex_file(folder / "big.mid"), "a message at 0.000 s is"),
    ],
    ids=["missing", "directory", "not-midi", "invalid-message-inside"],
)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "real-time"])
def test_play_errors_are_one_line(make: object, expected: str, fast: bool, tmp_path: Path) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    result = midibuffer(
        "play", str(path), *(["--fast"] if fast else ["--output", str(tmp_path / "x.wav")])
    )
    assert result.returncode == 1
    assert result.stderr.startswith("midibuffer play: " + expected.format(path=path)), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    both = midibuffer("play", str(CORPUS / "test10.mid"), "--fast", "--audio-process")
    assert both.returncode == 1 and "not with --audio-process" in both.stderr
