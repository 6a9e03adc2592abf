"""The async consumer against janus and an anyio memory object stream, in one run.

A producer thread (a MIDI input, say) sends one message every
:data:`SEND_EVERY` seconds; a task of an event loop receives them:

* midibuffer: the thread calls ``try_send``; the task ``await
  AsyncMidiConsumer.receive()``, which polls (nothing wakes it).
* janus (asyncio only): the thread calls ``sync_q.put_nowait``, which wakes
  the loop (``call_soon_threadsafe``); the task ``await async_q.get()``.
* anyio: the thread, which anyio did not start, calls ``send_nowait``
  through ``anyio.from_thread.run_sync`` (a round trip through the loop);
  the task ``await receive()``.

Figures per subject and backend: the producer thread's CPU per send (what
the consumer's design costs the producer), the wake-up latency from send
to ``receive`` returning, the loop thread's CPU while it waits on a silent
source (measured after :data:`~midibuffer.adapters.polling.IDLE_AFTER`),
and the wake-up of the first message after that silence.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from midibuffer import AsyncMidiConsumer, MidiMessage, midi_buffer
from midibuffer.adapters.polling import IDLE_AFTER

__all__ = [
    "DESCRIPTION",
    "ReceiveResult",
    "ReceiveTarget",
    "check_receive_targets",
    "format_receive_report",
    "measure_receive_cases",
]

MESSAGE = MidiMessage.note_on(0, 60, 100)
SEND_EVERY = 0.005  # a fast player: 200 messages a second
MESSAGES = 600
IDLE = 3.0  # seconds of the idle measurement, after IDLE_AFTER + SETTLE of silence
SETTLE = 1.0  # after IDLE_AFTER: the pacer counts looks, which come late on a busy loop
TIMEOUT = 30.0

DESCRIPTION = (
    f"# async consumer: a producer thread sends {MESSAGES} messages, one every "
    f"{SEND_EVERY * 1e3:g} ms; a task receives them; then {IDLE_AFTER + SETTLE + IDLE:g} s of "
    f"silence (the loop's CPU measured over the last {IDLE:g} s) and one more message"
)


@dataclass(frozen=True)
class Channel:
    """One subject, open inside the event loop."""

    send: Callable[[MidiMessage], object]
    """Send one message; called from the producer thread."""
    receive: Callable[[], Awaitable[MidiMessage]]


@dataclass(frozen=True)
class Subject:
    name: str
    backends: tuple[str, ...]
    open: Callable[[], AbstractAsyncContextManager[Channel]]


@dataclass(frozen=True)
class ReceiveResult:
    subject: str
    backend: str
    send_cpu_us: float  # producer thread CPU per send
    wake_p50: float  # seconds, send -> receive returned
    wake_p99: float
    idle_cpu: float  # loop thread CPU / wall time while waiting on a silent source
    wake_after_silence: float  # seconds, for the first message after the silence


@dataclass(frozen=True)
class ReceiveTarget:
    wording: str
    value: float
    limit: float

    @property
    def met(self) -> bool:
        return self.value < self.limit


class _Producer:
    """A thread sending MESSAGES messages on a grid of SEND_EVERY, then one on request."""

    def __init__(self, send: Callable[[MidiMessage], object]) -> None:
        self._send = send
        self.sent_at: list[float] = []
        self.cpu = 0.0
        self.last = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench producer", daemon=True)

    def _run(self) -> None:
        send, clock, sent_at = self._send, time.perf_counter, self.sent_at
        deadline = clock()
        for _ in range(MESSAGES):
            deadline += SEND_EVERY
            delay = deadline - clock()
            if delay > 0:
                time.sleep(delay)
            cpu = time.thread_time()
            sent_at.append(clock())
            send(MESSAGE)
            self.cpu += time.thread_time() - cpu
        if self.last.wait(TIMEOUT):
            sent_at.append(clock())
            send(MESSAGE)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(TIMEOUT)


async def _measure(subject: Subject, backend: str) -> ReceiveResult:
    async with subject.open() as channel:
        producer = _Producer(channel.send)
        received_at: list[float] = []
        clock = time.perf_counter
        with anyio.fail_after(TIMEOUT + MESSAGES * SEND_EVERY):
            producer.start()
            for _ in range(MESSAGES):
                await channel.receive()
                received_at.append(clock())

            async def wait_for_the_last() -> None:
                await channel.receive()
                received_at.append(clock())

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(wait_for_the_last)
                await anyio.sleep(IDLE_AFTER + SETTLE)
                # This task sleeps: the loop thread's CPU is now the waiting receiver's.
                cpu, wall = time.thread_time(), clock()
                await anyio.sleep(IDLE)
                idle_cpu = (time.thread_time() - cpu) / (clock() - wall)
                producer.last.set()
        await anyio.to_thread.run_sync(producer.join)
    wakes = [got - sent for got, sent in zip(received_at, producer.sent_at, strict=True)]
    steady = wakes[:-1]
    return ReceiveResult(
        subject=subject.name,
        backend=backend,
        send_cpu_us=producer.cpu / MESSAGES * 1e6,
        wake_p50=statistics.median(steady),
        wake_p99=statistics.quantiles(steady, n=100)[98],
        idle_cpu=idle_cpu,
        wake_after_silence=wakes[-1],
    )


@asynccontextmanager
async def _open_midibuffer() -> AsyncIterator[Channel]:
    producer, consumer = midi_buffer(256)
    async with AsyncMidiConsumer(consumer) as receiver:
        yield Channel(producer.try_send, receiver.receive)


@asynccontextmanager
async def _open_anyio_stream() -> AsyncIterator[Channel]:
    send, receive = anyio.create_memory_object_stream[MidiMessage](256)
    token = anyio.lowlevel.current_token()
    run_sync, send_nowait = anyio.from_thread.run_sync, send.send_nowait

    def send_from_thread(message: MidiMessage) -> None:
        run_sync(send_nowait, message, token=token)

    with send, receive:
        yield Channel(send_from_thread, receive.receive)


def _subjects() -> list[Subject]:
    subjects = [Subject("midibuffer AsyncMidiConsumer", ("asyncio", "trio"), _open_midibuffer)]
    try:
        import janus  # a dev extra: without it, the subject is skipped
    except ImportError:
        print("# janus is not installed (a dev extra): skipping the janus subject")
    else:

        @asynccontextmanager
        async def open_janus() -> AsyncIterator[Channel]:
            queue: janus.Queue[MidiMessage] = janus.Queue(256)
            try:
                yield Channel(queue.sync_q.put_nowait, queue.async_q.get)
            finally:
                await queue.aclose()

        subjects.append(Subject("janus", ("asyncio",), open_janus))
    subjects.append(
        Subject("anyio memory stream + from_thread", ("asyncio", "trio"), _open_anyio_stream)
    )
    return subjects


def measure_receive_cases() -> list[ReceiveResult]:
    """Every subject on every backend it supports, midibuffer first."""
    results = []
    for subject in _subjects():
        for backend in subject.backends:
            results.append(anyio.run(_measure, subject, backend, backend=backend))
    return results


def check_receive_targets(results: list[ReceiveResult]) -> list[ReceiveTarget]:
    """The issue's targets, for midibuffer on each backend."""
    targets = []
    for result in results:
        if not result.subject.startswith("midibuffer"):
            continue
        targets += [
            ReceiveTarget(
                f"{result.backend}: wake-up within 2 ms of the send (p99), ms",
                result.wake_p99 * 1e3,
                2.0,
            ),
            ReceiveTarget(
                f"{result.backend}: loop CPU while waiting on a silent buffer, % of a core",
                result.idle_cpu * 100,
                1.0,
            ),
        ]
    return targets


def format_receive_report(results: list[ReceiveResult], targets: list[ReceiveTarget]) -> str:
    """Markdown tables, in the style of the other suites."""
    lines = [
        "| subject | backend | producer µs CPU/send | wake p50 / p99 (ms) "
        "| loop CPU while idle % | wake after the silence (ms) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.subject} | {r.backend} | {r.send_cpu_us:.2f} "
            f"| {r.wake_p50 * 1e3:.3f} / {r.wake_p99 * 1e3:.3f} | {r.idle_cpu * 100:.2f} "
            f"| {r.wake_after_silence * 1e3:.2f} |"
        )
    lines += ["", "| target | value | goal | met |", "|---|---:|---:|---|"]
    for target in targets:
        lines.append(
            f"| {target.wording} | {target.value:.3f} | < {target.limit:g} "
            f"| {'yes' if target.met else 'NO'} |"
        )
    return "\n".join(lines)
