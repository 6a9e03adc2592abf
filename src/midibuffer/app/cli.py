"""The ``midibuffer`` command (also ``python -m midibuffer``): demo, play, bench, ports, monitor.

Errors that users meet (no such port, no device, a missing optional extra,
an output file that cannot be written) are one line on stderr and exit
status 1, not a traceback; Ctrl-C exits with 130 after closing the streams
(the demo writes what it rendered first).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from midibuffer import __version__
from midibuffer.errors import MidiBufferError
from midibuffer.io.settings import MAX_BLOCKSIZE, MAX_SAMPLERATE

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except (MidiBufferError, ImportError) as error:
        print(f"midibuffer {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    return status


class _Parser(argparse.ArgumentParser):
    """argparse, with an error as one line on stderr and exit status 1, like every
    other expected failure: ``midibuffer demo: --duration: must be a positive
    number, got 'abc' (midibuffer demo --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"{self.prog}: {message.removeprefix('argument ')} ({self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="midibuffer",
        description="Real-time MIDI from input threads and async code into audio callbacks.",
    )
    parser.add_argument("--version", action="version", version=f"midibuffer {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    demo = commands.add_parser(
        "demo",
        help="play a short piece through the buffer (or render it to a WAV file)",
        description="An anyio sequencer sends through AsyncMidiProducer into a midi_buffer; "
        "the audio callback schedules the messages sample-accurately and drives a small "
        "synth. Without an audio device it renders to a WAV file on a simulated real-time "
        "clock.",
    )
    demo.add_argument("--duration", type=_positive_float, default=8.0, help="seconds (8)")
    demo.add_argument("--midi-in", metavar="PORT", help="play along on this MIDI input")
    _add_output_options(demo)
    demo.add_argument("--quiet", action="store_true", help="no status line")
    demo.set_defaults(run=_demo)

    play = commands.add_parser(
        "play",
        help="play a Standard MIDI File through the buffer (or render it to a WAV file)",
        description="Play a Standard MIDI File (type 0 or 1) through AsyncMidiProducer, "
        "the buffer and the audio callback's scheduler into the demo's synth. Without an "
        "audio device it renders to a WAV file on a simulated real-time clock; with --fast, "
        "as fast as the machine can, without a device.",
    )
    play.add_argument("file", type=Path, metavar="FILE.mid", help="the MIDI file")
    play.add_argument(
        "--fast",
        action="store_true",
        help="render as fast as possible, no device (to --output, else FILE.wav here)",
    )
    _add_output_options(play)
    play.add_argument("--quiet", action="store_true", help="no progress line")
    play.set_defaults(run=_play)

    bench = commands.add_parser(
        "bench",
        help="run the benchmarks and print the ratio tables",
        description="Time midibuffer against deque, queue.Queue, janus and anyio streams "
        "in one run; print ratios.",
    )
    bench.add_argument(
        "--suite", choices=("buffer", "async", "gil", "shared", "all"), default="all"
    )
    bench.add_argument("--rounds", type=_int_in(1, 10_000), default=15)
    bench.add_argument("--jack", action="store_true", help="GIL scenario on a private JACK")
    bench.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    bench.add_argument("--plot", type=Path, metavar="PNG", help="also write a plot (matplotlib)")
    bench.set_defaults(run=_bench)

    ports = commands.add_parser(
        "ports",
        help="list MIDI ports and audio devices",
        description="List MIDI inputs "
        "and outputs per rtmidi API and audio output devices per host API.",
    )
    ports.set_defaults(run=_ports)

    monitor = commands.add_parser(
        "monitor",
        help="print incoming MIDI, through the buffer",
        description="Open a MIDI input (name or part of it) and print each message as the "
        "consumer pops it, with its time in seconds since the monitor started.",
    )
    monitor.add_argument("port", help="input port name (a substring), or the virtual port's name")
    monitor.add_argument("--virtual", action="store_true", help="create a virtual input PORT")
    monitor.add_argument("--seconds", type=_positive_float, help="stop after this long")
    monitor.add_argument("--sysex", action="store_true", help="also show SysEx")
    monitor.add_argument("--clock", action="store_true", help="also show clock and MTC messages")
    monitor.set_defaults(run=_monitor)
    return parser


def _add_output_options(command: argparse.ArgumentParser) -> None:
    """The audio output's options, shared by ``demo`` and ``play``."""
    command.add_argument(
        "--output", type=_writable_path, help="render to this WAV file instead of playing"
    )
    command.add_argument(
        "--blocksize", type=_int_in(1, MAX_BLOCKSIZE), default=128, help="frames (128)"
    )
    command.add_argument(
        "--samplerate", type=_int_in(1_000, MAX_SAMPLERATE), default=48_000, help="Hz (48000)"
    )
    command.add_argument("--device", help="audio output device (index or name)")
    command.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="GIL-aware real-time mode (default: on)",
    )
    command.add_argument(
        "--audio-process",
        action="store_true",
        help="render in a process of its own, which no thread here can hold up",
    )


# Option types: argparse shows "argument --NAME: " followed by the ArgumentTypeError's text.


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return whole_number


def _writable_path(text: str) -> Path:
    """A file path that can be written: checked now, before anything is rendered."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory, not a file name")
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: no directory {str(folder)!r}")
    existed = path.exists()
    try:  # the only sure test (permissions, read-only file systems, root): try it
        with path.open("ab"):
            pass
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {error.strerror}") from None
    if not existed:
        path.unlink()
    return path


def _demo(args: argparse.Namespace) -> int:
    from midibuffer.app.demo import DemoOptions, run_demo

    summary = run_demo(
        DemoOptions(
            duration=args.duration,
            blocksize=args.blocksize,
            samplerate=args.samplerate,
            output=args.output,
            midi_in=args.midi_in,
            device=_device(args.device),
            realtime=args.realtime,
            audio_process=args.audio_process,
            status=None if args.quiet else sys.stderr,
        )
    )
    print(summary.describe())
    return 130 if summary.interrupted else 0


def _device(text: str | None) -> int | str | None:
    """``--device``: an index if it is a number, else a name (or part of one)."""
    return int(text) if text and text.isdigit() else text


def _play(args: argparse.Namespace) -> int:
    from midibuffer.app.demo import DemoOptions, run_demo
    from midibuffer.io.midifile import midi_file_length, read_midi_file

    if args.fast and args.audio_process:
        print(
            "midibuffer play: --fast renders here, without a device: not with --audio-process",
            file=sys.stderr,
        )
        return 1
    try:
        for _ in read_midi_file(args.file):  # every message checked before any audio opens
            pass
        length = midi_file_length(args.file)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        print(f"midibuffer play: cannot read {str(args.file)!r}: {error.strerror}", file=sys.stderr)
        return 1
    if args.fast:
        return _render_fast(args, length)
    summary = run_demo(
        DemoOptions(
            duration=length,
            blocksize=args.blocksize,
            samplerate=args.samplerate,
            output=args.output,
            device=_device(args.device),
            realtime=args.realtime,
            audio_process=args.audio_process,
            status=None if args.quiet else sys.stderr,
            midi_file=args.file,
        )
    )
    print(summary.describe())
    return 130 if summary.interrupted else 0


def _render_fast(args: argparse.Namespace, length: float) -> int:
    """``play --fast``: render_midi_file into the demo's synth, then a WAV file."""
    from midibuffer.adapters.scheduler import BlockEvents
    from midibuffer.app.demo import make_synth
    from midibuffer.io.midifile import render_midi_file
    from midibuffer.io.offline import write_wav
    from midibuffer.io.render import AudioBlock

    try:
        wav = args.output or _writable_path(args.file.stem + ".wav")
    except argparse.ArgumentTypeError as error:
        print(f"midibuffer play: {error}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    synth = make_synth(args.samplerate)
    played = [0]

    def render(outdata: AudioBlock, events: BlockEvents) -> None:
        played[0] += events.count
        synth(outdata, events)

    try:
        audio = render_midi_file(
            args.file, render, samplerate=args.samplerate, blocksize=args.blocksize
        )
    except MemoryError:
        print(
            f"midibuffer play: {length:.0f} s of audio do not fit in memory: "
            "play it in real time (without --fast)",
            file=sys.stderr,
        )
        return 1
    write_wav(wav, audio, args.samplerate)
    took = time.perf_counter() - started
    seconds = len(audio) / args.samplerate
    print(
        f"{played[0]} messages rendered: {seconds:.1f} s of audio ({length:.1f} s of music "
        f"and a release tail) in {took:.1f} s, {seconds / took:.0f}x real time, to {wav}"
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from midibuffer.app.bench.__main__ import main as bench_main

    argv = ["--suite", args.suite, "--rounds", str(args.rounds)]
    argv += ["--jack"] * args.jack + ["--check"] * args.check
    argv += ["--plot", str(args.plot)] if args.plot else []
    return bench_main(argv)


def _ports(args: argparse.Namespace) -> int:
    print("MIDI ports (python-rtmidi):")
    for line in _midi_port_lines():
        print(f"  {line}")
    print("Audio output devices (sounddevice/PortAudio):")
    for line in _audio_device_lines():
        print(f"  {line}")
    return 0


def _midi_port_lines() -> list[str]:
    try:
        import rtmidi

        from midibuffer.io import midi_backend as midi
    except ModuleNotFoundError:
        return ["python-rtmidi is not installed: pip install 'midibuffer[rtmidi]'"]
    except ImportError as error:  # installed, but a system library is missing
        return [f"python-rtmidi cannot be loaded ({error}): apt install libasound2"]
    lines = []
    for api in rtmidi.get_compiled_api():
        name = rtmidi.get_api_display_name(api)
        try:
            inputs, outputs = midi.input_port_names(api), midi.output_port_names(api)
        except MidiBufferError as error:
            lines.append(f"{name}: unavailable ({error})")
            continue
        lines.append(f"{name}: inputs: {', '.join(inputs) or 'none'}")
        lines.append(f"{' ' * len(name)}  outputs: {', '.join(outputs) or 'none'}")
    return lines


def _audio_device_lines() -> list[str]:
    from midibuffer.errors import AudioBackendUnavailable
    from midibuffer.io.audio import output_devices

    try:
        devices = output_devices()
    except AudioBackendUnavailable as error:
        return [str(error)]
    if not devices:
        return [
            "none (no sound card: start a JACK server, e.g. `jackd -d dummy`, or use "
            "`midibuffer demo`, which then renders to a WAV file)"
        ]
    return [
        f"{d.index}: {d.name} ({d.host_api}, {d.channels} channels, "
        f"{d.default_samplerate:g} Hz){' [default]' if d.is_default else ''}"
        for d in devices
    ]


def _monitor(args: argparse.Namespace) -> int:
    from midibuffer.buffer.ends import midi_buffer
    from midibuffer.io.midi_input import open_input, open_virtual_input

    producer, consumer = midi_buffer(1024)
    opener = open_virtual_input if args.virtual else open_input
    with opener(args.port, producer, sysex=args.sysex, clock=args.clock) as midi_input:
        print(f"monitoring {midi_input.port_name}: Ctrl-C to stop", file=sys.stderr)
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        start = time.perf_counter()
        while deadline is None or time.monotonic() < deadline:
            while (message := consumer.try_pop()) is not None:
                stamp = (message.time or time.perf_counter()) - start
                print(f"{stamp:10.4f}  {message}", flush=True)
            time.sleep(0.005)
    print(f"# {midi_input.stats()}", file=sys.stderr)
    return 0
