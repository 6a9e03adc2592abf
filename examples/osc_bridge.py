"""An OSC 1.0 bridge: OSC messages and bundles over UDP, validated, turned into MIDI.

Controllers, phone apps (TouchOSC, Open Stage Control) and scripts speak OSC
rather than MIDI. This bridge receives OSC 1.0 packets on a UDP socket
(``anyio.create_udp_socket``, so it runs on asyncio and trio), parses them
with python-osc (``pythonosc.osc_message``/``osc_bundle``) and turns each
message into a :class:`midibuffer.MidiMessage`. The address space, every
argument an OSC int32 (type tag ``i``)::

    /note/on  channel note velocity
    /note/off channel note [velocity]
    /cc       channel controller value
    /pitch    channel pitch          (-8192..8191, 0 is centre)
    /program  channel program

A bundle schedules its messages at its time tag: each gets the time tag as
its ``time`` (mapped from the wall clock onto ``time.perf_counter()``), so an
audio output in ``timed`` mode plays it on that sample. "Immediately" and
past time tags mean on arrival; a nested bundle is never earlier than the one
around it; a tag more than ``HORIZON`` (4 s) ahead is refused. The bridge
keeps scheduled messages and puts each into the buffer ``LEAD`` (0.1 s)
before its time, so that one waiting for its time never holds back what is
sent after it (the output keeps the buffer's order).

Each message gets a reply to its sender, an OSC message ``/ok`` with the MIDI
message as a string, or ``/error`` with the reason; a packet's replies go
back together (a bundle when there are several, 32 at most per datagram). A
packet that is not OSC is answered with one ``/error`` too. Nothing invalid ever
reaches the buffer, nothing crashes the bridge, and rejections are counted.

Run it (``pip install -e '.[osc]'``)::

    python examples/osc_bridge.py                 # --demo: a client on loopback
    python examples/osc_bridge.py --listen 127.0.0.1:9000 --seconds 60

``--demo`` (the default) runs the bridge on 127.0.0.1 with an ephemeral port and
a client task that sends valid and invalid packets built with python-osc,
prints each reply, and finally the messages the consumer popped from the
buffer. The consumer is a plain thread here, to keep the example small; in
a real program it is the audio callback (see ``examples/synth.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import anyio
from anyio.abc import SocketAttribute, UDPSocket
from pythonosc import osc_bundle, osc_message
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from midibuffer import (
    AsyncMidiProducer,
    InvalidMidiMessage,
    MidiBufferConsumer,
    MidiMessage,
    midi_buffer,
)

HORIZON = 4.0  # seconds: the furthest ahead a bundle may be scheduled (outputs: 5 s)
LEAD = 0.1  # seconds: a scheduled message goes into the buffer this long before its time
REPLIES_PER_DATAGRAM = 32  # answers of up to ~150 bytes: a datagram stays under 5 KB


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


def osc(address: str, *arguments: object) -> bytes:
    """An OSC message's datagram, built with python-osc (types from the values)."""
    builder = OscMessageBuilder(address=address)
    for argument in arguments:
        builder.add_arg(argument)
    return builder.build().dgram


def bundle(time_tag: float, *contents: bytes) -> bytes:
    """An OSC bundle's datagram: *contents* (messages or bundles) at *time_tag*
    (wall-clock seconds, or ``IMMEDIATELY``)."""
    builder = OscBundleBuilder(time_tag)  # type: ignore[arg-type]  # python-osc says int
    for content in contents:
        if osc_bundle.OscBundle.dgram_is_bundle(content):
            builder.add_content(osc_bundle.OscBundle(content))
        else:
            builder.add_content(osc_message.OscMessage(content))
    return builder.build().dgram


class CommandError(ValueError):
    """An OSC message (or packet) that cannot become a MIDI message; the text says why."""


def parse_message(message: osc_message.OscMessage, *, time: float) -> MidiMessage:
    """Turn one OSC message into a MidiMessage stamped with *time*, or raise CommandError."""
    address, values = message.address, list(message.params)
    command = COMMANDS.get(address)
    if command is None:
        raise CommandError(f"unknown address {_quote(address)}; known: {', '.join(COMMANDS)}")
    most = len(command.arguments)
    least = most - command.optional
    if not least <= len(values) <= most:
        names = " ".join(command.arguments)
        count = str(most) if least == most else f"{least} or {most}"
        raise CommandError(f"{address} takes {count} arguments ({names}), got {len(values)}")
    for name, value in zip(command.arguments, values, strict=False):  # optional ones missing
        if type(value) is not int:  # bool is an int subclass: OSC T/F is not a number here
            raise CommandError(f"{address}: {name} {value!r} is not an integer (OSC type i)")
    try:
        # The named constructors check every range and name the argument.
        return command.build(*values, time=time)
    except InvalidMidiMessage as error:  # e.g. "note must be in 0..127, got 200"
        raise CommandError(f"{address}: {error}") from None


def timed_messages(data: bytes) -> Iterator[tuple[float | None, osc_message.OscMessage]]:
    """The messages of an OSC packet, each with its bundle's time tag (wall-clock
    seconds; ``None``: immediately, or not in a bundle).

    Raises:
        CommandError: *data* is not an OSC 1.0 packet.
    """
    try:
        if osc_bundle.OscBundle.dgram_is_bundle(data):
            contents = list(_walk(osc_bundle.OscBundle(data)))
        elif osc_message.OscMessage.dgram_is_message(data):
            contents = [(None, osc_message.OscMessage(data))]
        else:
            raise CommandError("not an OSC packet (neither a message nor a bundle)")
    except CommandError:
        raise
    except Exception as error:  # python-osc's ParseError, or what it lets through
        raise CommandError(f"not an OSC packet: {error or type(error).__name__}") from None
    yield from contents


def _walk(
    packet: osc_bundle.OscBundle, outer: float | None = None
) -> Iterator[tuple[float | None, osc_message.OscMessage]]:
    """A bundle's messages with their time tags; a nested bundle is never earlier than
    the bundle around it (OSC 1.0), so "immediately" inside one means the outer tag."""
    own = None if packet.timestamp == IMMEDIATELY else packet.timestamp
    tag = outer if own is None else own if outer is None else max(own, outer)
    for content in packet:
        if isinstance(content, osc_bundle.OscBundle):
            yield from _walk(content, tag)
        else:
            yield tag, content


def parse_packet(data: bytes, *, arrival: float, wall: float) -> list[MidiMessage | CommandError]:
    """Each message of an OSC packet as a MidiMessage, or the CommandError that
    refused it. A message is stamped at its bundle's time tag, mapped onto the
    ``perf_counter`` clock by *arrival* (``perf_counter()``) and *wall*
    (``time.time()``, read together), or at *arrival* if that is not later. A
    time tag more than :data:`HORIZON` ahead is refused (an audio output would
    take such a time for a wrong clock and play it at once)."""
    try:
        timed = list(timed_messages(data))
    except CommandError as error:
        return [error]
    results: list[MidiMessage | CommandError] = []
    for tag, message in timed:
        ahead = 0.0 if tag is None else max(tag - wall, 0.0)
        if ahead > HORIZON:
            results.append(
                CommandError(
                    f"{message.address}: time tag {ahead:.1f} s ahead; at most {HORIZON:g} s"
                )
            )
            continue
        try:
            results.append(parse_message(message, time=arrival + ahead))
        except CommandError as error:
            results.append(error)
    return results


def replies(results: list[MidiMessage | CommandError]) -> list[bytes]:
    """The answer to one packet: ``/ok`` or ``/error`` per message, several in a bundle,
    at most :data:`REPLIES_PER_DATAGRAM` a datagram (a datagram stays far below UDP's
    limit however large the packet was)."""
    answers = [
        osc("/error", str(result))
        if isinstance(result, CommandError)
        else osc("/ok", describe(result))
        for result in results
    ]
    step = REPLIES_PER_DATAGRAM
    chunks = [answers[index : index + step] for index in range(0, len(answers), step)]
    return [chunk[0] if len(chunk) == 1 else bundle(IMMEDIATELY, *chunk) for chunk in chunks]


def show(packet: bytes, *, wall: float) -> str:
    """A packet as the demo prints it: ``/note/on 0 60 100``, ``bundle +0.200 s: ...``."""
    try:
        timed = list(timed_messages(packet))
    except CommandError:
        return repr(packet)
    text = "; ".join(
        " ".join([message.address, *(repr(value) for value in message.params)])
        for _, message in timed
    )
    if not osc_bundle.OscBundle.dgram_is_bundle(packet):
        return text
    tag = timed[0][0] if timed else None
    return f"bundle {'immediately' if tag is None else f'{tag - wall:+.3f} s'}: {text}"


def read_reply(data: bytes) -> list[str]:
    """A reply's lines, ``ok: ...`` or ``error: ...`` (for the demo client and tests)."""
    return [f"{message.address[1:]}: {message.params[0]}" for _, message in timed_messages(data)]


# The demo client's packets: valid messages, invalid ones, and bundles.
DEMO_PACKETS: tuple[bytes, ...] = (
    osc("/program", 0, 5),
    osc("/note/on", 0, 60, 100),
    osc("/cc", 0, 74, 64),
    osc("/pitch", 0, -2000),
    osc("/note/off", 0, 60),
    osc("/note/on", 0, 60),  # wrong number of arguments
    osc("/note/on", 0, 200, 100),  # note out of range
    osc("/note/on", 16, 60, 100),  # channel out of range
    osc("/cc", 0, 74, 0.5),  # a float, not an int32
    osc("/pitch", 0, 9000),  # pitch out of range
    osc("/note/of", 0, 60),  # unknown address
    b"hello",  # not OSC at all
    b"#bundle\x00\x00\x00",  # a truncated bundle
    bundle(IMMEDIATELY, osc("/note/on", 1, 48, 90), osc("/note/off", 1, 48)),
)


def _quote(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:20] + "...")


@dataclass
class Bridge:
    """The bridge's counters, and the messages of bundles waiting for their time.

    A scheduled message goes into the buffer :data:`LEAD` before its time, not at
    once: the audio output keeps the buffer's order, so a message waiting there for
    its time would hold back everything sent after it.
    """

    accepted: int = 0
    rejected: int = 0
    scheduled: list[tuple[float, int, MidiMessage]] = field(default_factory=list)

    async def run(self, udp: UDPSocket, aproducer: AsyncMidiProducer) -> None:
        """Serve packets until cancelled: validate, send or schedule, reply."""
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._release, aproducer)
            async for data, (host, port) in udp:
                # Stamp the arrival (for a live-mode audio callback) and read the wall
                # clock with it, to map bundles' time tags onto perf_counter.
                arrival, wall = time.perf_counter(), time.time()
                results = parse_packet(data, arrival=arrival, wall=wall)
                for result in results:
                    if isinstance(result, CommandError):
                        self.rejected += 1
                        continue
                    self.accepted += 1
                    assert result.time is not None
                    if result.time - LEAD > arrival:
                        heapq.heappush(self.scheduled, (result.time, self.accepted, result))
                    else:
                        await aproducer.send(result)  # waits for room if needed, never drops
                for answer in replies(results):
                    with contextlib.suppress(OSError, anyio.BrokenResourceError):
                        await udp.sendto(answer, host, port)  # a client that cannot take it

    async def _release(self, aproducer: AsyncMidiProducer) -> None:
        """Send each scheduled message LEAD before its time."""
        while True:
            while self.scheduled and self.scheduled[0][0] - LEAD <= time.perf_counter():
                await aproducer.send(heapq.heappop(self.scheduled)[2])
            await anyio.sleep(0.005)

    async def flush(self, aproducer: AsyncMidiProducer) -> None:
        """Send what is still scheduled (when the bridge stops), in time order."""
        while self.scheduled:
            await aproducer.send(heapq.heappop(self.scheduled)[2])


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
                due = message.time - time.perf_counter() if message.time is not None else 0.0
                print(f"    buffer -> {describe(message)} (due in {due:+.3f} s)", flush=True)
            else:
                self.popped.append(message)


async def demo_client(host: str, port: int) -> None:
    """Send the demo packets to the bridge and print each reply; then a bundle
    scheduled 0.2 s ahead."""
    async with await anyio.create_connected_udp_socket(host, port) as udp:
        for packet in (*DEMO_PACKETS, bundle(time.time() + 0.2, osc("/note/on", 2, 72, 80))):
            print(f"> {show(packet, wall=time.time())}")
            await udp.send(packet)
            with anyio.fail_after(2):
                answer = await udp.receive()  # the demo's packets take one datagram of replies
            for line in read_reply(answer):
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
            await bridge.flush(aproducer)
    await anyio.to_thread.run_sync(thread.join)
    print(f"bridge: {bridge.accepted} messages accepted, {bridge.rejected} rejected")
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
        description="Bridge OSC 1.0 over UDP to MIDI messages in a midi_buffer.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--demo",
        action="store_true",
        help="run the bridge on loopback with a client sending good and bad packets (the default)",
    )
    mode.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=host_and_port,
        help="serve packets from others (port 0: any free port)",
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
