"""Smoke tests for the scripts in examples/: each runs as a subprocess, as a user would run it.

Each test checks the exit status, the key lines of the output (counts of
messages, rejections, parser counters) and, where the example renders
offline, that the WAV file it wrote is there and not silent. The examples
that need MIDI through rtmidi use the ``jack_server`` fixture (they skip
where jackd is missing). The others force the offline path with ``--output``,
so the results do not depend on whether a sound card or a JACK server is
around.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import math
import os
import re
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from midibuffer.testing.jackd import JackServer

from harness import unless_xruns_spoil_it

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 30  # seconds for one example run: they take 1 to 3 s
RATE = 48_000  # the examples' default sample rate


def run_example(
    name: str, *args: str, cwd: Path, env: dict[str, str] | None = None, status: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run examples/*name* with *args* in *cwd*; check its exit status."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == status, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def number(pattern: str, text: str) -> int:
    """The integer captured by *pattern* in *text* (which must match)."""
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in:\n{text}"
    return int(found.group(1))


def without_jack() -> dict[str, str]:
    """An environment in which libjack finds no server and does not start one."""
    return {
        **os.environ,
        "JACK_DEFAULT_SERVER": "midibuffer-no-such-server",
        "JACK_NO_START_SERVER": "1",
    }


def example_constants(name: str) -> dict[str, object]:
    """The module-level constants (literal assignments) of examples/*name*."""
    tree = ast.parse((EXAMPLES / name).read_text())
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                with contextlib.suppress(ValueError):  # not a literal
                    constants[target.id] = ast.literal_eval(node.value)
    return constants


def timed_example(
    name: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[str, float]:
    """Run an example like ``run_example``; return its stdout and how long it took."""
    started = time.perf_counter()
    result = run_example(name, *args, cwd=cwd, env=env)
    return result.stdout, time.perf_counter() - started


def check_wav(path: Path, min_seconds: float, max_seconds: float) -> None:
    """*path* is a 16-bit stereo 48 kHz WAV file that is not silent, of at least
    *min_seconds* and at most *max_seconds* (how long the example ran: it
    renders on a real-time clock, from after it started to before it ended)."""
    assert path.exists(), f"{path} was not written"
    with wave.open(str(path), "rb") as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (2, 2, RATE)
        frames = file.getnframes()
        samples = np.frombuffer(file.readframes(frames), dtype="<i2")
    assert len(samples) == 2 * frames
    assert min_seconds <= frames / RATE <= max_seconds
    assert np.abs(samples.astype(np.int32)).max() > 1000, "the WAV file is (nearly) silent"


# --- synth.py: rtmidi -> buffer -> audio callback ------------------------------------------

needs_rtmidi = pytest.mark.skipif(
    importlib.util.find_spec("rtmidi") is None, reason="python-rtmidi is not installed"
)


def expected_selftest_messages(seconds: float) -> int:
    """What ``synth.py --selftest --seconds`` sends: a note-on and a note-off
    every STEP for *seconds* minus TAIL (as the example computes it)."""
    constants = example_constants("synth.py")
    step, tail = constants["STEP"], constants["TAIL"]
    assert isinstance(step, float) and isinstance(tail, float)
    return 2 * max(1, int((seconds - tail) / step))


def synth_received_all(output: str) -> bool:
    """Whether the selftest's MIDI input received every message it sent."""
    sent = number(r"selftest: sent (\d+) messages", output)
    return number(r"received (\d+) MIDI messages", output) == sent


def check_synth_counts(output: str, seconds: float) -> None:
    sent = number(r"selftest: sent (\d+) messages", output)
    assert sent == expected_selftest_messages(seconds)
    assert number(r"received (\d+) MIDI messages", output) == sent
    assert number(r"(\d+) into the buffer", output) == sent
    assert number(r"rendered (\d+) events", output) == sent


@needs_rtmidi
def test_synth_selftest_plays_on_jack(tmp_path: Path, jack_server: JackServer) -> None:
    # rtmidi's JACK input loses what arrives in a cycle jackd overran (an xrun):
    # such a run is tried again (harness.unless_xruns_spoil_it); one without fails.
    result = unless_xruns_spoil_it(
        jack_server,
        lambda: run_example("synth.py", "--selftest", "--seconds", "2", cwd=tmp_path),
        lambda result: synth_received_all(result.stdout),
    )
    assert "MIDI input: 'midibuffer synth' (Jack)" in result.stdout
    assert "audio: playing on 'system' (JACK Audio Connection Kit)" in result.stdout
    check_synth_counts(result.stdout, seconds=2)


@needs_rtmidi
def test_synth_selftest_renders_a_wav_with_output(tmp_path: Path, jack_server: JackServer) -> None:
    output, elapsed = unless_xruns_spoil_it(  # as test_synth_selftest_plays_on_jack
        jack_server,
        lambda: timed_example(
            "synth.py", "--selftest", "--seconds", "2", "--output", "selftest.wav", cwd=tmp_path
        ),
        lambda result: synth_received_all(result[0]),
    )
    assert "audio: rendering offline into selftest.wav" in output
    check_synth_counts(output, seconds=2)
    assert "wrote selftest.wav" in output
    check_wav(tmp_path / "selftest.wav", min_seconds=1.5, max_seconds=elapsed)


@pytest.mark.usefixtures("jack_server")
@needs_rtmidi
def test_synth_names_a_missing_port_in_one_line(tmp_path: Path) -> None:
    result = run_example("synth.py", "--port", "no such port", cwd=tmp_path, status=1)
    assert "error: no MIDI input port matches 'no such port'" in result.stderr
    assert "Traceback" not in result.stderr


@needs_rtmidi
def test_synth_explains_a_missing_midi_backend_in_one_line(tmp_path: Path) -> None:
    result = run_example("synth.py", "--selftest", cwd=tmp_path, env=without_jack(), status=1)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "JACK server" in errors[0]
    assert "Traceback" not in result.stderr


# --- async_sequencer.py: coroutines scheduling ahead ----------------------------------------


def expected_sequencer_messages(bpm: float, seconds: float) -> tuple[int, int]:
    """How many messages async_sequencer.py sends (melody, bass) at *bpm* for
    *seconds*: two for each note of its pattern that ends by the last beat."""
    constants = example_constants("async_sequencer.py")
    lead_in, tail, pattern_beats = (
        constants["LEAD_IN"],
        constants["TAIL"],
        constants["PATTERN_BEATS"],
    )
    assert isinstance(lead_in, float) and isinstance(tail, float)
    assert isinstance(pattern_beats, int)
    beats = (seconds - lead_in - tail) / (60.0 / bpm)
    loops = range(math.ceil(beats / pattern_beats))

    def messages(notes: object) -> int:
        assert isinstance(notes, tuple)
        return 2 * sum(
            beat + loop * pattern_beats + length <= beats
            for loop in loops
            for beat, _note, length, _velocity in notes
        )

    return messages(constants["MELODY"]), messages(constants["BASS"])


def test_the_expected_message_counts_are_the_reviewed_ones() -> None:
    assert expected_selftest_messages(2) == 24  # int((2 - 0.4) / 0.125) = 12 notes
    assert expected_sequencer_messages(bpm=160, seconds=2.5) == (14, 4)
    assert expected_sequencer_messages(bpm=160, seconds=2) == (10, 2)
    assert expected_sequencer_messages(bpm=120, seconds=2) == (8, 2)


def check_sequencer_counts(output: str, bpm: float, seconds: float) -> None:
    melody, bass = expected_sequencer_messages(bpm, seconds)
    sent = number(r"sent (\d+) messages", output)
    assert (number(r"melody (\d+)", output), number(r"bass (\d+)", output)) == (melody, bass)
    assert sent == melody + bass
    assert number(r"rendered (\d+) events", output) == sent
    # None is late, unless the audio stream itself skipped (an overloaded machine).
    late = number(r"late events: (\d+)", output)
    assert late == 0 or number(r"stream skips \(clock resyncs\): (\d+)", output) > 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_sequencer_renders_a_wav_with_output(backend: str, tmp_path: Path) -> None:
    pytest.importorskip(backend)
    output, elapsed = timed_example(
        "async_sequencer.py",
        *("--backend", backend, "--seconds", "2.5", "--bpm", "160", "--output", "seq.wav"),
        cwd=tmp_path,
    )
    assert f"on {backend}" in output
    check_sequencer_counts(output, bpm=160, seconds=2.5)
    check_wav(tmp_path / "seq.wav", min_seconds=2.0, max_seconds=elapsed)


@pytest.mark.usefixtures("jack_server")
def test_async_sequencer_plays_on_jack(tmp_path: Path) -> None:
    result = run_example("async_sequencer.py", "--seconds", "2", "--bpm", "160", cwd=tmp_path)
    assert "audio: playing on 'system'" in result.stdout
    check_sequencer_counts(result.stdout, bpm=160, seconds=2)
    assert not (tmp_path / "async_sequencer.wav").exists()


PRINT_DEVICE_COUNT = "from midibuffer.audio import output_devices; print(len(output_devices()))"


def test_async_sequencer_falls_back_to_a_wav_without_a_device(tmp_path: Path) -> None:
    # Fails (no PortAudio) or prints 0 where there is no device: then the example falls back.
    listed = subprocess.run(
        [sys.executable, "-c", PRINT_DEVICE_COUNT],
        env=without_jack(),
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode == 0 and listed.stdout.strip() != "0":
        pytest.skip("this machine has an audio output device: the example would play on it")
    output, elapsed = timed_example(
        "async_sequencer.py", "--seconds", "2", cwd=tmp_path, env=without_jack()
    )
    assert "no audio output (" in output
    check_sequencer_counts(output, bpm=120, seconds=2)  # 120 bpm: the default
    check_wav(tmp_path / "async_sequencer.wav", min_seconds=1.5, max_seconds=elapsed)


# --- network_midi.py: raw MIDI over UDP -------------------------------------------------------

DEMO_PARSER_STATS = "messages=13 skipped_bytes=3 truncated_messages=1 oversized_sysex=0"


def check_network_receiver(output: str) -> None:
    assert DEMO_PARSER_STATS in output
    assert "received 7 datagrams (40 bytes); buffer: 13 messages sent, 0 dropped" in output
    popped = [line.strip() for line in output.splitlines() if "buffer -> " in line]
    assert len(popped) == 13
    # running status, and the SysEx reassembled around the clock byte inside it
    assert popped[1:4] == [
        f"buffer -> note_on channel=0 note={note} velocity=90" for note in (64, 67, 72)
    ]
    assert popped[4:6] == ["buffer -> clock", "buffer -> sysex length=7 data=F0 7D 01 02 03 04 F7"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_network_midi_demo_parses_and_resynchronises(backend: str, tmp_path: Path) -> None:
    pytest.importorskip(backend)
    result = run_example("network_midi.py", "--backend", backend, cwd=tmp_path)
    assert result.stdout.count("datagram ") == 7
    check_network_receiver(result.stdout)


def test_network_midi_listen_and_send_in_two_processes(tmp_path: Path) -> None:
    command = [sys.executable, str(EXAMPLES / "network_midi.py")]
    with subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0", "--seconds", str(TIMEOUT)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    ) as listener:
        assert listener.stdout is not None
        first = listener.stdout.readline()
        port = number(r"receiving raw MIDI on udp 127\.0\.0\.1:(\d+)", first)
        run_example("network_midi.py", "--send", f"127.0.0.1:{port}", cwd=tmp_path)
        listener.send_signal(signal.SIGINT)  # Ctrl+C: it stops and prints its counters
        output, _ = listener.communicate(timeout=TIMEOUT)
    assert listener.returncode == 0
    check_network_receiver(output)


# --- osc_bridge.py: OSC 1.0 over UDP ---------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_osc_bridge_demo_accepts_and_rejects(backend: str, tmp_path: Path) -> None:
    pytest.importorskip("pythonosc", reason="python-osc is not installed (the osc extra)")
    result = run_example("osc_bridge.py", "--backend", backend, cwd=tmp_path)
    output = result.stdout
    assert "bridge: 8 messages accepted, 8 rejected" in output
    assert "buffer: 8 messages sent" in output
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("< error")]
    assert len(errors) == 8
    for expected in (
        "< error: /note/on takes 3 arguments (channel note velocity), got 2",
        "< error: /note/on: note must be in 0..127, got 200",
        "< error: /note/on: channel must be in 0..15, got 16",
        "< error: /cc: value 0.5 is not an integer (OSC type i)",
        "< error: /pitch: pitch must be in -8192..8191, got 9000",
        "< error: unknown address '/note/of'; known: /note/on, /note/off, /cc, /pitch, /program",
        "< error: not an OSC packet (neither a message nor a bundle)",
    ):
        assert expected in errors
    popped = output.split("the consumer popped 8 messages:\n")[1].split("\n")
    assert [line.strip() for line in popped[:8]] == [
        "program_change channel=0 program=5",
        "note_on channel=0 note=60 velocity=100",
        "control_change channel=0 control=74 value=64",
        "pitchwheel channel=0 pitch=-2000",
        "note_off channel=0 note=60 velocity=0",
        "note_on channel=1 note=48 velocity=90",  # an immediate bundle of two
        "note_off channel=1 note=48 velocity=0",
        "note_on channel=2 note=72 velocity=80",  # a bundle 0.2 s ahead
    ]


def osc_message(address: str, *arguments: object) -> bytes:
    """Built with python-osc here, independently of the example's own helpers."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address=address)
    for argument in arguments:
        builder.add_arg(argument)
    return builder.build().dgram


def osc_bundle(time_tag: float, *contents: bytes) -> bytes:
    from pythonosc.osc_bundle import OscBundle
    from pythonosc.osc_bundle_builder import OscBundleBuilder
    from pythonosc.osc_message import OscMessage

    builder = OscBundleBuilder(time_tag)  # type: ignore[arg-type]
    for content in contents:
        nested = OscBundle.dgram_is_bundle(content)
        builder.add_content(OscBundle(content) if nested else OscMessage(content))  # type: ignore[arg-type]
    return builder.build().dgram


def osc_replies(data: bytes) -> list[tuple[str, str]]:
    """(address, text) of each reply message, parsed with python-osc."""
    from pythonosc.osc_packet import OscPacket

    return [(item.message.address, item.message.params[0]) for item in OscPacket(data).messages]


def load_osc_bridge() -> object:
    """examples/osc_bridge.py as a module (registered: its dataclasses need that)."""
    spec = importlib.util.spec_from_file_location("osc_bridge", EXAMPLES / "osc_bridge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_osc_bundles_schedule_their_messages_at_their_time_tags() -> None:
    pytest.importorskip("pythonosc", reason="python-osc is not installed (the osc extra)")
    bridge: Any = load_osc_bridge()
    wall, arrival = 1_800_000_000.0, 100.0  # time.time() and perf_counter() at arrival
    inner = osc_bundle(wall + 0.75, osc_message("/note/off", 3, 64))
    nested_now = osc_bundle(1, osc_message("/cc", 3, 1, 1))  # "immediately", inside
    packet = osc_bundle(wall + 0.5, osc_message("/note/on", 3, 64, 99), inner, nested_now)
    on, off, cc = bridge.parse_packet(packet, arrival=arrival, wall=wall)
    assert (on.kind, on.channel, on.note, on.velocity) == ("note_on", 3, 64, 99)
    assert on.time == pytest.approx(arrival + 0.5, abs=1e-6)  # NTP: 2**-32 s steps
    assert off.time == pytest.approx(arrival + 0.75, abs=1e-6)  # the nested bundle's own tag
    assert cc.time == pytest.approx(arrival + 0.5, abs=1e-6)  # never before the outer one
    (late,) = bridge.parse_packet(
        osc_bundle(wall - 3.0, osc_message("/cc", 0, 1, 2)), arrival=arrival, wall=wall
    )
    assert late.time == arrival  # a past time tag: on arrival
    plain, now = bridge.parse_packet(
        osc_message("/program", 1, 7), arrival=arrival, wall=wall
    ) + bridge.parse_packet(
        osc_bundle(1, osc_message("/pitch", 1, 100)), arrival=arrival, wall=wall
    )  # a message outside a bundle, and a bundle "immediately" (time tag 1)
    assert plain.time == now.time == arrival
    (far,) = bridge.parse_packet(
        osc_bundle(wall + 30, osc_message("/cc", 0, 1, 2)), arrival=arrival, wall=wall
    )
    assert isinstance(far, bridge.CommandError)
    assert str(far) == "/cc: time tag 30.0 s ahead; at most 4 s"


def test_osc_packets_python_osc_cannot_decode_and_huge_packets_are_answered() -> None:
    pytest.importorskip("pythonosc", reason="python-osc is not installed (the osc extra)")
    bridge: Any = load_osc_bridge()
    (error,) = bridge.parse_packet(b"/\xff\x00\x00,\x00\x00\x00", arrival=0.0, wall=0.0)
    assert isinstance(error, bridge.CommandError)
    assert str(error).startswith("not an OSC packet: ")
    many = osc_bundle(1, *[osc_message("/note/on", 0, n % 128, 1) for n in range(5_000)])
    results = bridge.parse_packet(many, arrival=0.0, wall=0.0)
    answers = bridge.replies(results)
    assert len(answers) == math.ceil(5_000 / 32)
    assert max(len(answer) for answer in answers) < 8_192
    assert sum(len(osc_replies(answer)) for answer in answers) == 5_000


def test_osc_bridge_answers_real_osc_packets_over_udp(tmp_path: Path) -> None:
    """The bridge in its own process (--listen); this test is a client sending
    packets built with python-osc and reading the OSC replies."""
    pytest.importorskip("pythonosc", reason="python-osc is not installed (the osc extra)")
    import socket

    command = [sys.executable, str(EXAMPLES / "osc_bridge.py")]
    with (
        subprocess.Popen(
            [*command, "--listen", "127.0.0.1:0", "--seconds", str(TIMEOUT)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            text=True,
        ) as bridge,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        assert bridge.stdout is not None
        port = number(r"bridge listening on udp 127\.0\.0\.1:(\d+)", bridge.stdout.readline())
        client.settimeout(TIMEOUT)

        def ask(packet: bytes) -> list[tuple[str, str]]:
            client.sendto(packet, ("127.0.0.1", port))
            return osc_replies(client.recv(65536))

        assert ask(osc_message("/note/on", 0, 60, 100)) == [
            ("/ok", "note_on channel=0 note=60 velocity=100")
        ]
        assert ask(osc_bundle(1, osc_message("/cc", 1, 7, 90), osc_message("/cc", 1, 7, "x"))) == [
            ("/ok", "control_change channel=1 control=7 value=90"),
            ("/error", "/cc: value 'x' is not an integer (OSC type i)"),
        ]
        assert ask(osc_message("/note/on", 0, 60, True)) == [
            ("/error", "/note/on: velocity True is not an integer (OSC type i)")
        ]
        (answer,) = ask(b"\x00\x01garbage")
        assert answer[0] == "/error" and answer[1].startswith("not an OSC packet")
        # A bundle 1 s ahead, then a message at once: the bridge keeps the scheduled one
        # until shortly before its time, so it does not hold back the later one.
        assert ask(osc_bundle(time.time() + 1.0, osc_message("/note/off", 0, 60))) == [
            ("/ok", "note_off channel=0 note=60 velocity=0")
        ]
        assert ask(osc_message("/program", 0, 1)) == [("/ok", "program_change channel=0 program=1")]
        lines = []
        while not any("note_off" in line for line in lines):  # the scheduled one, popped
            line = bridge.stdout.readline()
            assert line, "the bridge ended before the scheduled message was popped"
            lines.append(line)
        bridge.send_signal(signal.SIGINT)  # Ctrl+C: it stops and prints its counters
        output, _ = bridge.communicate(timeout=TIMEOUT)
    assert bridge.returncode == 0
    assert "bridge: 4 messages accepted, 3 rejected" in output
    popped = [line.strip() for line in [*lines, *output.splitlines()] if "buffer -> " in line]
    assert [line.split(" (due")[0] for line in popped] == [
        "buffer -> note_on channel=0 note=60 velocity=100",
        "buffer -> control_change channel=1 control=7 value=90",
        "buffer -> program_change channel=0 program=1",
        "buffer -> note_off channel=0 note=60 velocity=0",
    ]
