"""A two-voice sequencer written as coroutines: notes scheduled ahead, played on their sample.

Two anyio tasks, a melody and a bass line, share one
:class:`midibuffer.AsyncMidiProducer`. Each computes when its notes should
sound (``time = start + beat * seconds_per_beat``, on ``time.perf_counter()``'s
clock) and sends each message about 100 ms before that time. The audio
callback (:class:`midibuffer.audio.AudioOutput` in ``mode="timed"``) pops the
messages when their block comes and plays each on its exact sample, so the
timing does not depend on when the event loop got around to sending: the
jitter of the coroutines is absorbed by the look-ahead. A message that arrived
too late to be placed is counted in ``late_events``; there should be none,
unless the audio stream itself skipped (an overloaded machine: the callback
ran more than a block late), which shows as a clock resync: messages due in the
skipped time then play at the start of the next block.

Run it (needs ``pip install -e '.[audio]'``; trio for ``--backend trio``)::

    python examples/async_sequencer.py                  # plays on the sound card
    python examples/async_sequencer.py --backend trio --bpm 140
    python examples/async_sequencer.py --output seq.wav --seconds 4

Without an audio device or PortAudio it renders on a simulated sound-card
clock (:class:`midibuffer.offline.OfflineOutput`) and writes a WAV file;
``--output FILE.wav`` asks for that explicitly.

One rule matters with ``mode="timed"``: the buffer is a FIFO, and a message due
in a later block holds back the ones behind it. So the tasks send every
message a fixed time before it is due, never a whole bar at once; the messages
of both tasks then enter the buffer in time order.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import numpy as np

from midibuffer import AsyncMidiProducer, MidiMessage, midi_buffer
from midibuffer.audio import output_devices
from midibuffer.offline import OfflineOutput, open_output
from midibuffer.synth import PolySynth

LOOKAHEAD = 0.1  # seconds: how long before its time each message is sent
LEAD_IN = 0.25  # seconds between starting the audio and the first beat
TAIL = 0.4  # seconds after the last note-off, for the release to ring out
DEFAULT_WAV = "async_sequencer.wav"
PATTERN_BEATS = 8  # the pattern is two bars of 4/4, then repeats

# (beat, note, length in beats, velocity): A minor, over Am F | C G.
MELODY = (
    (0.0, 69, 0.5, 100),
    (0.5, 72, 0.5, 90),
    (1.0, 76, 0.5, 100),
    (1.5, 74, 0.5, 90),
    (2.0, 72, 1.0, 100),
    (3.0, 69, 1.0, 90),
    (4.0, 67, 0.5, 100),
    (4.5, 72, 0.5, 90),
    (5.0, 76, 0.5, 100),
    (5.5, 79, 0.5, 90),
    (6.0, 74, 1.5, 100),
)
BASS = (
    (0.0, 45, 1.75, 110),
    (2.0, 41, 1.75, 110),
    (4.0, 48, 1.75, 110),
    (6.0, 43, 1.75, 110),
)
MELODY_CHANNEL = 2  # PolySynth: a bell-like lead
BASS_CHANNEL = 1  # PolySynth: a round bass


@dataclass
class Part:
    """One voice of the sequence, and how many messages its task sent."""

    name: str
    channel: int
    notes: tuple[tuple[float, int, float, int], ...]
    sent: int = 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Two coroutines sequence a melody and a bass line into an audio callback.",
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--bpm", type=float, default=120.0, help="tempo (default: 120)")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long (default: 8)")
    parser.add_argument(
        "--output",
        metavar="FILE.wav",
        help="render offline into this WAV file instead of playing "
        f"(the fallback without an audio device, into {DEFAULT_WAV})",
    )
    parser.add_argument("--samplerate", type=int, default=48_000)
    parser.add_argument("--blocksize", type=int, default=64, help="frames per audio callback")
    args = parser.parse_args(argv)
    if args.seconds <= LEAD_IN + TAIL:
        parser.error(f"--seconds must be more than {LEAD_IN + TAIL:g}")
    if not 20 <= args.bpm <= 400:
        parser.error("--bpm must be in 20..400")
    return args


async def play(
    part: Part,
    aproducer: AsyncMidiProducer,
    start: float,
    seconds_per_beat: float,
    beats: float,
) -> None:
    """Send *part*'s notes that end within *beats*, each LOOKAHEAD before its time."""
    events: list[tuple[float, MidiMessage]] = []
    for loop in range(math.ceil(beats / PATTERN_BEATS)):
        for beat, note, length, velocity in part.notes:
            beat += loop * PATTERN_BEATS
            if beat + length > beats:
                continue
            # The time each message should sound, on perf_counter()'s clock.
            on = start + beat * seconds_per_beat
            off = start + (beat + length) * seconds_per_beat
            events.append((on, MidiMessage.note_on(part.channel, note, velocity, time=on)))
            events.append((off, MidiMessage.note_off(part.channel, note, time=off)))
    # Send in time order (a stable sort: a note-off stays before a note-on at
    # the same time, so a repeated note is released before it restarts).
    events.sort(key=lambda event: event[0])
    for when, message in events:
        # anyio's own clock differs between backends (trio's has a random
        # offset), so the wait is computed against perf_counter().
        await anyio.sleep(max(0.0, when - LOOKAHEAD - time.perf_counter()))
        # Waits only if the buffer is full: it never drops the message.
        await aproducer.send(message)
        part.sent += 1


async def sequence(
    parts: list[Part], aproducer: AsyncMidiProducer, bpm: float, seconds: float
) -> None:
    """Run one task per part; close the producer when they are done."""
    seconds_per_beat = 60.0 / bpm
    beats = (seconds - LEAD_IN - TAIL) / seconds_per_beat
    start = time.perf_counter() + LEAD_IN
    async with aproducer, anyio.create_task_group() as tasks:  # aclose() at the end
        for part in parts:
            tasks.start_soon(play, part, aproducer, start, seconds_per_beat, beats)
    # Wait for the last note's release (the audio keeps running meanwhile).
    await anyio.sleep(max(0.0, start + beats * seconds_per_beat + TAIL - time.perf_counter()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.backend == "trio" and importlib.util.find_spec("trio") is None:
        print("error: --backend trio needs trio: pip install trio", file=sys.stderr)
        return 1

    producer, consumer = midi_buffer(256)
    aproducer = AsyncMidiProducer(producer)  # from now on, send only through it
    parts = [Part("melody", MELODY_CHANNEL, MELODY), Part("bass", BASS_CHANNEL, BASS)]

    # The consumer goes to the audio callback, which places each message on
    # the sample its time maps to (mode="timed", the default).
    synth = PolySynth(args.samplerate)
    # An AudioOutput if a device works, else the same callback on a simulated
    # real-time clock (OfflineOutput), recorded to a WAV file.
    output, no_device = open_output(
        consumer,
        synth,
        offline=args.output is not None,
        samplerate=args.samplerate,
        blocksize=args.blocksize,
        mode="timed",
        realtime=True,  # shorter GIL waits for the callback; see docs/realtime.md
    )
    wav = Path(args.output or DEFAULT_WAV) if isinstance(output, OfflineOutput) else None
    if wav is None:
        default = next((d for d in output_devices() if d.is_default), None)
        print(
            f"audio: playing on {'the default device' if default is None else repr(default.name)}"
        )
    elif args.output is None:
        print(f"no audio output ({no_device}): rendering into {wav}")
    else:
        print(f"audio: rendering offline into {wav}")

    print(
        f"sequencer: melody (channel {MELODY_CHANNEL}) and bass (channel {BASS_CHANNEL}) "
        f"at {args.bpm:g} bpm, sent {LOOKAHEAD * 1000:.0f} ms ahead, on {args.backend}"
    )
    with output:  # start the audio first: the sequence starts LEAD_IN later
        anyio.run(sequence, parts, aproducer, args.bpm, args.seconds, backend=args.backend)

    sender = aproducer.stats()
    audio = output.stats()
    per_part = ", ".join(f"{part.name} {part.sent}" for part in parts)
    print(f"sent {sender.sent} messages ({per_part}); the sender waited {sender.waits} times")
    print(
        f"rendered {audio.events} events in {audio.callbacks} audio blocks; "
        f"late events: {audio.late_events}; underflows: {audio.underflows}; "
        f"stream skips (clock resyncs): {audio.resyncs}"
    )
    if wav is not None and isinstance(output, OfflineOutput):
        output.write_wav(wav)
        samples = output.audio()
        peak = float(np.abs(samples).max()) if len(samples) else 0.0
        level = f"peak {20 * math.log10(peak):.1f} dBFS" if peak else "silent"
        print(f"wrote {wav}: {len(samples) / args.samplerate:.1f} s, {level}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
