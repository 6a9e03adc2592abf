"""The ``midibuffer`` command: demo, bench, ports, monitor, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from midibuffer.testing.jackd import JackServer

from midi_sender import SenderProcess

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
    assert "demo" in result.stdout and "monitor" in result.stdout
