"""Network MIDI: raw MIDI bytes in UDP datagrams, parsed and sent into a midi_buffer.

The ipMIDI convention: each UDP datagram carries plain MIDI bytes, nothing
else. A coroutine receives the datagrams (``anyio.create_udp_socket``), a
:class:`midibuffer.MidiParser` per sender turns the bytes into messages, and
:class:`midibuffer.AsyncMidiProducer` sends them into the buffer. The parser
keeps its state between datagrams, so running status, a SysEx split over
several datagrams, real-time bytes in the middle of a message and garbage are
all handled; what it cannot use it skips and counts (``stats()``).

Run it (the core only: ``pip install -e .``)::

    python examples/network_midi.py                      # --demo: both ends on loopback
    python examples/network_midi.py --listen 0.0.0.0:5004 --seconds 60
    python examples/network_midi.py --send 192.168.1.20:5004

``--demo`` (the default) receives on 127.0.0.1 with an ephemeral port and runs
a sender task that plays a few datagrams at it: a note, a chord in running
status, a split SysEx with a clock byte inside, garbage, a truncated note. It
prints each datagram, each message that comes out of the buffer, and the
parser's counters. ``--listen`` only receives; ``--send`` only sends the demo
datagrams to another machine (or to a ``--listen`` in another terminal).

The consumer here is a plain thread that polls the buffer and prints, to keep
the example small. In a real program the consumer is the audio callback (see
``examples/synth.py``), which must never print. ipMIDI proper sends to the
multicast group 225.0.0.37, port 21928; joining a group takes a
``setsockopt(IP_ADD_MEMBERSHIP)`` on the raw socket, left out here.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial

import anyio
from anyio.abc import SocketAttribute, UDPSocket

from midibuffer import AsyncMidiProducer, MidiBufferConsumer, MidiMessage, MidiParser, midi_buffer

# What the demo sender plays: (what it shows, the datagram's bytes).
DEMO_DATAGRAMS: tuple[tuple[str, bytes], ...] = (
    ("a note on", bytes([0x90, 60, 100])),
    ("a chord in running status, one status byte", bytes([0x90, 64, 90, 67, 90, 72, 90])),
    ("a SysEx, first half", bytes([0xF0, 0x7D, 0x01, 0x02])),
    ("its second half, with a clock byte inside", bytes([0xF8, 0x03, 0x04, 0xF7])),
    (
        "garbage: 2 stray data bytes, undefined 0xF4; a note",
        bytes([0x12, 0x34, 0xF4, 0x90, 76, 100]),
    ),
    ("a note cut short by a controller", bytes([0x90, 79, 0xB0, 123, 0])),
    ("five note-offs in running status", bytes([0x80, 60, 0, 64, 0, 67, 0, 72, 0, 76, 0])),
)
DATAGRAM_GAP = 0.1  # seconds between two demo datagrams


@dataclass
class Receiver:
    """The receiving side's state: one parser per sender, and counters."""

    parsers: dict[tuple[str, int], MidiParser] = field(default_factory=dict)
    datagrams: int = 0
    bytes: int = 0

    async def run(self, udp: UDPSocket, aproducer: AsyncMidiProducer) -> None:
        """Receive datagrams until cancelled; parse them; send the messages."""
        async for data, sender in udp:
            now = time.perf_counter()  # the arrival time, on the audio side's clock
            self.datagrams += 1
            self.bytes += len(data)
            # One parser per sender: running status and a split SysEx belong
            # to one stream, and streams must not be mixed.
            parser = self.parsers.setdefault(sender, MidiParser())
            # feed() never raises on a bad stream: it skips and counts.
            messages = parser.feed(data, time=now)
            # One burst, in order; waits (never drops) if the buffer is full.
            await aproducer.send_many(messages)

    def report(self, aproducer: AsyncMidiProducer) -> None:
        for (host, port), parser in self.parsers.items():
            stats = parser.stats()
            print(
                f"parser stats for {host}:{port}: messages={stats.messages} "
                f"skipped_bytes={stats.skipped_bytes} "
                f"truncated_messages={stats.truncated_messages} "
                f"oversized_sysex={stats.oversized_sysex}"
            )
        sender = aproducer.stats()
        print(
            f"received {self.datagrams} datagrams ({self.bytes} bytes); "
            f"buffer: {sender.sent} messages sent, {sender.dropped} dropped"
        )


def print_messages(consumer: MidiBufferConsumer) -> None:
    """The consumer: pop and print until the stream ends. (An audio callback in real life.)"""
    while not consumer.is_finished():  # the producer closed and everything was popped
        message = consumer.try_pop()
        if message is None:
            time.sleep(0.005)
            continue
        print(f"    buffer -> {describe(message)}", flush=True)


def describe(message: MidiMessage) -> str:
    """``note_on channel=0 note=60 velocity=100``: the repr without its time."""
    return repr(message.with_time(None)).removeprefix("<MidiMessage ").removesuffix(">")


async def send_datagrams(host: str, port: int) -> None:
    """Play the demo datagrams at host:port, one every DATAGRAM_GAP seconds."""
    async with await anyio.create_connected_udp_socket(host, port) as udp:
        for number, (what, data) in enumerate(DEMO_DATAGRAMS, 1):
            print(f"datagram {number}, {what}: {data.hex(' ')}", flush=True)
            await udp.send(data)
            await anyio.sleep(DATAGRAM_GAP)


async def receive(host: str, port: int, seconds: float | None, *, demo: bool = False) -> None:
    """Receive on host:port, for *seconds* (or forever; in the demo, until the sender is done)."""
    producer, consumer = midi_buffer(256)
    printer = threading.Thread(target=print_messages, args=(consumer,), daemon=True)
    printer.start()
    receiver = Receiver()
    async with await anyio.create_udp_socket(local_host=host, local_port=port) as udp:
        port = udp.extra(SocketAttribute.local_port)
        print(f"receiving raw MIDI on udp {host}:{port}", flush=True)
        # Leaving the block closes the producer: the printer then sees the
        # end of the stream once it has popped everything.
        async with AsyncMidiProducer(producer) as aproducer:
            with anyio.move_on_after(seconds):
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(receiver.run, udp, aproducer)
                    tasks.start_soon(stop_on_ctrl_c, tasks.cancel_scope)
                    if demo:
                        await send_datagrams(host, port)
                        await anyio.sleep(0.1)  # the last datagram's messages
                        tasks.cancel_scope.cancel()
    await anyio.to_thread.run_sync(printer.join)
    receiver.report(aproducer)


async def stop_on_ctrl_c(scope: anyio.CancelScope) -> None:
    """Cancel *scope* on Ctrl+C (SIGINT), so that the counters still get printed."""
    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            print()
            scope.cancel()
            return


def host_and_port(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (or just ``PORT``, on 127.0.0.1)."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port {number} is not in 0..65535")
    return host or "127.0.0.1", number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Receive raw MIDI over UDP (ipMIDI style) into a midi_buffer.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--demo",
        action="store_true",
        help="receive on loopback and send the demo datagrams to ourselves (the default)",
    )
    mode.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=host_and_port,
        help="only receive (port 0: any free port), and print what arrives",
    )
    mode.add_argument(
        "--send",
        metavar="HOST:PORT",
        type=host_and_port,
        help="only send the demo datagrams there",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help="stop receiving after this many seconds "
        "(default: --listen runs until Ctrl+C, --demo until its sender is done)",
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args(argv)

    try:
        if args.send is not None:
            anyio.run(send_datagrams, *args.send, backend=args.backend)
        elif args.listen is not None:
            host, port = args.listen
            anyio.run(partial(receive, host, port, args.seconds), backend=args.backend)
        else:
            demo = partial(receive, "127.0.0.1", 0, args.seconds, demo=True)
            anyio.run(demo, backend=args.backend)
    except OSError as error:  # cannot bind or resolve: say so in one line
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
