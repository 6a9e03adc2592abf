"""An OSC-like control bridge: text commands over UDP, validated, turned into MIDI.

Controllers, phone apps and scripts often speak OSC rather than MIDI. This
example takes a small text version of it, one command per line, for example::

    /note/on 0 60 100      channel note velocity
    /note/off 0 60         channel note [velocity]
    /cc 0 74 64            channel controller value
    /pitch 0 -2000         channel pitch (-8192..8191, 0 is centre)
    /program 0 5           channel program

A coroutine receives the datagrams (``anyio.create_udp_socket``), checks every
line and builds a :class:`midibuffer.MidiMessage` with its named constructors,
whose validation names the argument that is out of range. Valid messages go
into a ``midi_buffer`` through :class:`midibuffer.AsyncMidiProducer`; each
line gets a reply to its sender, ``ok: <message>`` or ``error: <why>``, and
rejections are counted. A datagram may hold several lines; the replies then
come back together, one line each, in one datagram.

Run it (the core only: ``pip install -e .``)::

    python examples/osc_bridge.py                 # --demo: a client on loopback
    python examples/osc_bridge.py --listen 127.0.0.1:9000 --seconds 60
    echo '/note/on 0 60 100' | nc -u -w1 127.0.0.1 9000    # from another terminal

``--demo`` (the default) runs the bridge on 127.0.0.1 with an ephemeral port and
a client task that sends valid and invalid commands, prints each reply, and
finally the messages the consumer popped from the buffer. The consumer is a
plain thread here, to keep the example small; in a real program it is the
audio callback (see ``examples/synth.py``).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import anyio
from anyio.abc import SocketAttribute, UDPSocket

from midibuffer import (
    AsyncMidiProducer,
    InvalidMidiMessage,
    MidiBufferConsumer,
    MidiMessage,
    midi_buffer,
)

MAX_LINE = 200  # characters: a longer line is refused without being parsed
_INTEGER = re.compile(r"[+-]?[0-9]+")  # int() would also take "1_000" and " 7 "


@dataclass(frozen=True)
class Command:
    """An address: its arguments (the last *optional* ones may be left out) and builder."""

    arguments: tuple[str, ...]
    build: Callable[..., MidiMessage]
    optional: int = 0


COMMANDS = {
    "/note/on": Command(("channel", "note", "velocity"), MidiMessage.note_on),
    "/note/off": Command(("channel", "note", "velocity"), MidiMessage.note_off, optional=1),
    "/cc": Command(("channel", "controller", "value"), MidiMessage.control_change),
    "/pitch": Command(("channel", "pitch"), MidiMessage.pitchwheel),
    "/program": Command(("channel", "program"), MidiMessage.program_change),
}

# The demo client's datagrams: valid commands, invalid ones, two lines in one.
DEMO_DATAGRAMS: tuple[bytes, ...] = (
    b"/program 0 5",
    b"/note/on 0 60 100",
    b"/cc 0 74 64",
    b"/pitch 0 -2000",
    b"/note/off 0 60",
    b"/note/on 0 60",  # wrong number of arguments
    b"/note/on 0 200 100",  # note out of range
    b"/note/on 16 60 100",  # channel out of range
    b"/cc 0 74 loud",  # not an integer
    b"/pitch 0 9000",  # pitch out of range
    b"/note/of 0 60",  # unknown address
    b"hello",  # not a command at all
    b"\xff\xfe/cc",  # not UTF-8
    b"/note/on 1 48 90\n/note/off 1 48",  # two commands in one datagram
)


class CommandError(ValueError):
    """A command line that cannot become a MIDI message; the text says why."""


def parse_command(line: str, *, time: float | None = None) -> MidiMessage:
    """Turn one command line into a MidiMessage stamped with *time*, or raise CommandError."""
    if len(line) > MAX_LINE:
        raise CommandError(f"line longer than {MAX_LINE} characters")
    if not line.split():
        raise CommandError("empty command")
    address, *words = line.split()
    if not address.startswith("/"):
        raise CommandError(f"not a command (an address starts with '/'): {_quote(address)}")
    command = COMMANDS.get(address)
    if command is None:
        raise CommandError(f"unknown address {_quote(address)}; known: {', '.join(COMMANDS)}")
    most = len(command.arguments)
    least = most - command.optional
    if not least <= len(words) <= most:
        names = " ".join(command.arguments)
        count = str(most) if least == most else f"{least} or {most}"
        raise CommandError(f"{address} takes {count} arguments ({names}), got {len(words)}")
    values = []
    for name, word in zip(command.arguments, words, strict=False):  # optional ones may be missing
        if not _INTEGER.fullmatch(word):
            raise CommandError(f"{address}: {name} {_quote(word)} is not an integer")
        values.append(int(word))
    try:
        # The named constructors check every range and name the argument.
        return command.build(*values, time=time)
    except InvalidMidiMessage as error:  # e.g. "note must be in 0..127, got 200"
        raise CommandError(f"{address}: {error}") from None


def _quote(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:20] + "...")


@dataclass
class Bridge:
    """The bridge's counters."""

    accepted: int = 0
    rejected: int = 0

    async def run(self, udp: UDPSocket, aproducer: AsyncMidiProducer) -> None:
        """Serve datagrams until cancelled: validate, send to the buffer, reply."""
        async for data, (host, port) in udp:
            now = time.perf_counter()  # stamp the arrival, for a live-mode audio callback
            replies = []
            try:
                lines = data.decode("utf-8").splitlines()
            except UnicodeDecodeError:
                lines = []
                replies.append("error: not UTF-8 text")
                self.rejected += 1
            for line in lines:
                if not line.strip():
                    continue
                try:
                    message = parse_command(line, time=now)
                except CommandError as error:
                    replies.append(f"error: {error}")
                    self.rejected += 1
                    continue
                await aproducer.send(message)  # waits for room if needed, never drops
                replies.append(f"ok: {describe(message)}")
                self.accepted += 1
            if replies:
                await udp.sendto("\n".join(replies).encode(), host, port)


def describe(message: MidiMessage) -> str:
    """``note_on channel=0 note=60 velocity=100``: the repr without its time."""
    return repr(message.with_time(None)).removeprefix("<MidiMessage ").removesuffix(">")


@dataclass
class Consumer:
    """The consumer end, polled by a plain thread (in real life: the audio callback)."""

    consumer: MidiBufferConsumer
    live: bool  # print each message as it comes, or keep them for the end
    popped: list[MidiMessage] = field(default_factory=list)

    def run(self) -> None:
        while not self.consumer.is_finished():  # ends once the producer is closed
            message = self.consumer.try_pop()
            if message is None:
                time.sleep(0.005)
            elif self.live:
                print(f"    buffer -> {describe(message)}", flush=True)
            else:
                self.popped.append(message)


async def demo_client(host: str, port: int) -> None:
    """Send the demo datagrams to the bridge and print each reply."""
    async with await anyio.create_connected_udp_socket(host, port) as udp:
        for datagram in DEMO_DATAGRAMS:
            for line in datagram.decode(errors="backslashreplace").splitlines():
                print(f"> {line}")
            await udp.send(datagram)
            with anyio.fail_after(2):
                reply = await udp.receive()
            for line in reply.decode().splitlines():
                print(f"  < {line}")


async def serve(host: str, port: int, seconds: float | None, *, demo: bool = False) -> None:
    """Run the bridge on host:port for *seconds* (or forever; in the demo, until the
    client is done), then print the counters."""
    producer, consumer = midi_buffer(256)
    reader = Consumer(consumer, live=not demo)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    bridge = Bridge()
    async with await anyio.create_udp_socket(local_host=host, local_port=port) as udp:
        port = udp.extra(SocketAttribute.local_port)
        print(f"bridge listening on udp {host}:{port}", flush=True)
        # Leaving the block closes the producer: the consumer thread then ends.
        async with AsyncMidiProducer(producer) as aproducer:
            with anyio.move_on_after(seconds):
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(bridge.run, udp, aproducer)
                    tasks.start_soon(stop_on_ctrl_c, tasks.cancel_scope)
                    if demo:
                        await demo_client(host, port)
                        tasks.cancel_scope.cancel()
    await anyio.to_thread.run_sync(thread.join)
    print(f"bridge: {bridge.accepted} commands accepted, {bridge.rejected} rejected")
    print(f"buffer: {aproducer.stats().sent} messages sent")
    if demo:
        print(f"the consumer popped {len(reader.popped)} messages:")
        for message in reader.popped:
            print(f"    {describe(message)}")


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
        description="Bridge OSC-like text commands over UDP to MIDI messages in a midi_buffer.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--demo",
        action="store_true",
        help="run the bridge on loopback with a client sending good and bad commands (the default)",
    )
    mode.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=host_and_port,
        help="serve commands from others (port 0: any free port)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help="stop after this many seconds "
        "(default: --listen runs until Ctrl+C, --demo until its client is done)",
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args(argv)

    if args.listen is not None:
        host, port = args.listen
        run = partial(serve, host, port, args.seconds)
    else:
        run = partial(serve, "127.0.0.1", 0, args.seconds, demo=True)
    try:
        anyio.run(run, backend=args.backend)
    except OSError as error:  # cannot bind: say so in one line
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
