"""A MIDI synthesizer: rtmidi input -> midi_buffer -> sounddevice audio callback.

The seed's pattern, end to end. rtmidi calls :class:`midibuffer.rtmidi.MidiInput`
on its own thread for every incoming message; the input stamps it and
``try_send``s it into a ``midi_buffer``. The audio callback
(:class:`midibuffer.audio.AudioOutput`) pops the messages of each block without
a lock and plays them on :class:`midibuffer.synth.PolySynth`, one block after
they arrived (``mode="live"``: a constant latency that hides the MIDI thread's
jitter).

Run it (needs ``pip install -e '.[rtmidi,audio]'``)::

    python examples/synth.py                     # virtual input "midibuffer synth"
    python examples/synth.py --port keystation   # or connect to an existing port
    python examples/synth.py --selftest          # play a short arpeggio to ourselves

With the default virtual input, connect a keyboard or sequencer to the port
``midibuffer:midibuffer synth`` (``jack_connect``, ``aconnect`` or a patchbay).
It plays until Ctrl+C, or for ``--seconds``. Without an audio device or
PortAudio, it renders on a simulated sound-card clock
(:class:`midibuffer.offline.OfflineOutput`) and writes a WAV file instead;
``--output FILE.wav`` asks for that explicitly.

``--selftest`` needs no human: it also opens an rtmidi output, connects it to
our own virtual input and plays an arpeggio, then prints what was received and
rendered. On Linux without an ALSA sequencer (containers, CI), rtmidi works only
through JACK, so start a server first, for example::

    jackd -d dummy -r 48000 -p 64 &
    python examples/synth.py --selftest --seconds 2
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from midibuffer import MidiMessage, midi_buffer
from midibuffer.audio import output_devices
from midibuffer.errors import (
    MidiBackendUnavailable,
    MidiPortNotFound,
)
from midibuffer.offline import OfflineOutput, open_output
from midibuffer.synth import PolySynth

if TYPE_CHECKING:  # imported for real in main(), where a missing rtmidi is reported
    from midibuffer.rtmidi import MidiInput

VIRTUAL_PORT = "midibuffer synth"
DEFAULT_WAV = "synth.wav"
ARPEGGIO = (60, 64, 67, 71, 72, 71, 67, 64)  # C major 7, up and down
STEP = 0.125  # seconds between two arpeggio notes
GATE = 0.1  # seconds a note is held
TAIL = 0.4  # seconds left at the end for the last release to ring out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Play MIDI input on a small synthesizer (rtmidi -> buffer -> audio).",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--port",
        metavar="NAME",
        help="connect to the first MIDI input port whose name contains NAME "
        f"(default: create a virtual input called {VIRTUAL_PORT!r})",
    )
    source.add_argument(
        "--selftest",
        action="store_true",
        help="send an arpeggio to our own virtual input through rtmidi, then print stats",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help="stop after this many seconds (default: until Ctrl+C; 2 with --selftest)",
    )
    parser.add_argument(
        "--output",
        metavar="FILE.wav",
        help="render offline into this WAV file instead of playing "
        f"(the fallback without an audio device, into {DEFAULT_WAV})",
    )
    parser.add_argument("--samplerate", type=int, default=48_000)
    parser.add_argument("--blocksize", type=int, default=64, help="frames per audio callback")
    args = parser.parse_args(argv)
    if args.seconds is None and args.selftest:
        args.seconds = 2.0
    if args.seconds is not None and args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # Importing midibuffer.rtmidi imports python-rtmidi (the ``rtmidi`` extra).
        import rtmidi

        from midibuffer.rtmidi import open_input, open_virtual_input
    except ImportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    producer, consumer = midi_buffer(256)

    # 1. MIDI input. The MidiInput owns the producer from now on: rtmidi's
    #    thread is the only one that sends. Opening it first means a missing
    #    backend or port is reported before any audio starts.
    midi_input: MidiInput
    try:
        if args.port is not None:
            midi_input = open_input(args.port, producer)
        else:
            midi_input = open_virtual_input(VIRTUAL_PORT, producer)
    except (MidiBackendUnavailable, MidiPortNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    with midi_input:  # closing it closes the port and the producer
        api = rtmidi.get_api_display_name(midi_input.api)
        print(f"MIDI input: {midi_input.port_name!r} ({api})")
        if args.port is None and not args.selftest and midi_input.api == rtmidi.API_UNIX_JACK:
            print(f"  connect a source: jack_connect <client:port> 'midibuffer:{VIRTUAL_PORT}'")

        # 2. Audio output. The consumer goes to the audio callback, which pops
        #    each block's messages and renders them on the synth.
        synth = PolySynth(args.samplerate)
        # An AudioOutput if a device works, else the same callback driven by a
        # thread on a sound card's schedule (OfflineOutput), recorded to a WAV.
        output, no_device = open_output(
            consumer,
            synth,
            offline=args.output is not None,
            samplerate=args.samplerate,
            blocksize=args.blocksize,
            mode="live",  # time = arrival time: play one block later
            realtime=True,  # shorter GIL waits for the callback; see docs/realtime.md
        )
        wav = Path(args.output or DEFAULT_WAV) if isinstance(output, OfflineOutput) else None
        if wav is None:
            print(f"audio: playing on {_default_device()}, {_format(args)}")
        elif args.output is None:
            print(f"no audio output ({no_device}): rendering into {wav}")
        else:
            print(f"audio: rendering offline into {wav}, {_format(args)}")

        with output:  # starts the stream; stops it at the end
            if args.selftest:
                sent = play_arpeggio(midi_input.api, args.seconds - TAIL)
                print(f"selftest: sent {sent} messages")
                time.sleep(TAIL)  # the last note's release, and the last messages
            else:
                wait_for_notes(midi_input, args.seconds)
    # Here the MIDI port is closed and the audio stopped: the stats are final.

    received = midi_input.stats()
    audio = output.stats()
    print(
        f"received {received.received} MIDI messages: {received.sent} into the buffer, "
        f"{received.dropped} dropped, {received.invalid} invalid"
    )
    print(
        f"rendered {audio.events} events in {audio.callbacks} audio blocks: "
        f"{audio.late_events} late, {audio.underflows} underflows, "
        f"{audio.resyncs} stream skips, max load {audio.max_load:.0%}"
    )
    if wav is not None and isinstance(output, OfflineOutput):
        output.write_wav(wav)
        print(f"wrote {wav}: {_describe(output.audio(), args.samplerate)}")
    return 0


def wait_for_notes(midi_input: MidiInput, seconds: float | None) -> None:
    """Wait (until Ctrl+C, or *seconds*), reporting now and then what came in."""
    print("waiting for notes (Ctrl+C to stop)" if seconds is None else f"playing {seconds:g} s")
    deadline = math.inf if seconds is None else time.monotonic() + seconds
    reported = 0
    try:
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            # stats() is safe from any thread: plain counters, no lock.
            received = midi_input.stats().received
            if received != reported:
                print(f"  {received} messages so far")
                reported = received
    except KeyboardInterrupt:
        print()


def play_arpeggio(api: int, seconds: float) -> int:
    """Send an arpeggio to our own virtual input through an rtmidi output (on the
    input's *api*) for about *seconds*; return the number of messages sent."""
    import rtmidi

    midi_out = rtmidi.MidiOut(api, "midibuffer selftest")
    try:
        ports: list[str] = midi_out.get_ports()
        index = next((i for i, name in enumerate(ports) if VIRTUAL_PORT in name), None)
        if index is None:
            raise MidiPortNotFound(f"our own port {VIRTUAL_PORT!r} is not among {ports}")
        midi_out.open_port(index, "arpeggio")
        time.sleep(0.05)  # let the backend finish the connection
        notes = max(1, int(seconds / STEP))
        sent = 0
        start = time.perf_counter()
        for number in range(notes):
            note = ARPEGGIO[number % len(ARPEGGIO)]
            # Pace the sends: rtmidi's JACK output garbles messages when more
            # than ~100 go out within one JACK period. Here it is one message
            # every few dozen milliseconds.
            _sleep_until(start + number * STEP)
            midi_out.send_message(list(MidiMessage.note_on(0, note, 96)))
            _sleep_until(start + number * STEP + GATE)
            midi_out.send_message(list(MidiMessage.note_off(0, note)))
            sent += 2
        return sent
    finally:
        midi_out.close_port()
        midi_out.delete()


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def _format(args: argparse.Namespace) -> str:
    milliseconds = 1000 * args.blocksize / args.samplerate
    return f"{args.samplerate} Hz, {args.blocksize}-frame blocks ({milliseconds:.2f} ms)"


def _default_device() -> str:
    default = next((d for d in output_devices() if d.is_default), None)
    return (
        "the default output device" if default is None else f"{default.name!r} ({default.host_api})"
    )


def _describe(samples: np.ndarray, samplerate: int) -> str:
    seconds = len(samples) / samplerate
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak == 0:
        return f"{seconds:.1f} s of silence (no notes came in)"
    return f"{seconds:.1f} s of audio, peak {20 * math.log10(peak):.1f} dBFS"


if __name__ == "__main__":
    sys.exit(main())
