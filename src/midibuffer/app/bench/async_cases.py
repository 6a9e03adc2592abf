"""The async producer against janus and an anyio memory object stream, in one run.

Each subject is an asyncio event loop (``anyio.run``) on the main thread that
sends, and a real consumer thread that drains the subject every ``PERIOD``
(64 frames at 48 kHz) on an absolute deadline grid, as an audio callback would:

* midibuffer: ``await AsyncMidiProducer.send``; the thread calls ``try_pop``.
* janus: ``await Queue.async_q.put``; the thread calls ``sync_q.get_nowait``.
* anyio: ``await MemoryObjectSendStream.send``; the thread, which anyio did
  not start, calls ``receive_nowait`` through ``anyio.from_thread.run_sync``.

Three figures per subject: the CPU each message costs the sender and each
poll costs the consumer; how long after the consumer made room a waiting
``send`` completes; and the event loop's CPU while the consumer is stalled.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from itertools import repeat

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from midibuffer import AsyncMidiProducer, MidiMessage, midi_buffer

__all__ = [
    "AsyncResult",
    "AsyncTarget",
    "check_async_targets",
    "format_async_report",
    "measure_async_cases",
]

MESSAGE = MidiMessage.note_on(0, 60, 100)
PERIOD = 64 / 48_000
"""The consumer's poll period: 64 frames at 48 kHz (1.33 ms)."""
COST_CAPACITY = 256
COST_MESSAGES = 20_000
WAKE_CAPACITY = 1
WAKE_MESSAGES = 2_000
WAKE_WARMUP = 20  # first waits not counted: the midibuffer sender learns the period
SETTLE = 0.05  # after the consumer stalls, before the CPU is measured
STALL = 1.0
TIMEOUT = 30.0  # for any one wait of the run: a hung subject fails instead of hanging

DESCRIPTION = (
    f"# async producer: consumer thread polls every {PERIOD * 1e3:.3f} ms (64 frames at 48 kHz);"
    f" {COST_MESSAGES} messages into capacity {COST_CAPACITY}, {WAKE_MESSAGES} into capacity"
    f" {WAKE_CAPACITY}, then a {STALL:g} s consumer stall"
)


@dataclass(frozen=True)
class Channel:
    """One subject, open inside the event loop: how the loop sends, how the thread pops."""

    send: Callable[[MidiMessage], Awaitable[None]]
    pop: Callable[[], MidiMessage | None]
    """Pop one message, or ``None`` if there is none; called from the consumer thread."""


@dataclass(frozen=True)
class Subject:
    name: str
    open: Callable[[int], AbstractAsyncContextManager[Channel]]
    """Open a channel of the given capacity; entered in the running event loop."""


@dataclass(frozen=True)
class AsyncResult:
    """What one subject measured. Wake latencies are in consumer periods."""

    subject: str
    send_cpu_us: float  # sender (event loop) thread CPU per message
    poll_cpu_us: float  # consumer thread CPU per poll (one drain until empty)
    messages_per_poll: float
    wake_p50: float
    wake_p99: float
    wake_after_stall: float  # the waiting send, after the consumer's first pop after the stall
    blocked_cpu: float  # event loop thread CPU / wall time while stalled, fraction of a core


@dataclass(frozen=True)
class AsyncTarget:
    wording: str
    value: float
    limit: float
    inclusive: bool  # ``value <= limit`` rather than ``value < limit``

    @property
    def met(self) -> bool:
        return self.value <= self.limit if self.inclusive else self.value < self.limit


class _Consumer:
    """The audio callback's stand-in: drains the channel every PERIOD, on a deadline grid.

    While ``active``, each poll pops until the channel is empty (or ``active``
    goes false: the anyio stream can keep one poll busy for as long as the
    sender keeps up). A late poll restarts the grid rather than catching up.
    """

    def __init__(self, pop: Callable[[], MidiMessage | None], *, stamp: bool) -> None:
        self._pop = pop
        self._stamp = stamp
        self.pop_times: list[float] = []  # perf_counter after each pop, if stamping
        self.poll_cpu: list[float] = []
        self.popped = 0
        self.active = True
        self.paused = threading.Event()  # set by the thread once it saw active go false
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="bench consumer", daemon=True)

    def _run(self) -> None:
        pop, pop_times, poll_cpu = self._pop, self.pop_times, self.poll_cpu
        clock, thread_time, stamp = time.perf_counter, time.thread_time, self._stamp
        deadline = clock()
        while not self._stopping:
            if self.active:
                self.paused.clear()
                cpu = thread_time()
                popped = 0
                while self.active and pop() is not None:
                    popped += 1
                    if stamp:
                        pop_times.append(clock())
                poll_cpu.append(thread_time() - cpu)
                self.popped += popped
            else:
                self.paused.set()
            deadline += PERIOD
            delay = deadline - clock()
            if delay > 0:
                time.sleep(delay)
            else:
                deadline = clock()

    def start(self) -> None:
        self._thread.start()

    async def pause(self) -> None:
        self.active = False
        with anyio.fail_after(TIMEOUT):
            # Not a blocking wait: an anyio pop needs the event loop to finish.
            await anyio.to_thread.run_sync(self.paused.wait)

    async def stop(self) -> None:
        self._stopping = True
        self.active = False
        await anyio.to_thread.run_sync(self._thread.join, TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError("the consumer thread did not stop")


class _Sender:
    """A task that sends back to back, noting when each ``send`` returned."""

    def __init__(self, send: Callable[[MidiMessage], Awaitable[None]]) -> None:
        self._send = send
        self.sent: list[float] = []
        self._wanted = 0
        self._reached = anyio.Event()

    async def run(self) -> None:
        send, sent, clock = self._send, self.sent, time.perf_counter
        while True:
            await send(MESSAGE)
            sent.append(clock())
            if len(sent) == self._wanted:
                self._reached.set()

    async def wait_sent(self, count: int) -> None:
        if len(self.sent) >= count:
            return
        self._wanted, self._reached = count, anyio.Event()
        with anyio.fail_after(TIMEOUT):
            await self._reached.wait()


async def _measure_cost(subject: Subject) -> tuple[float, float, float]:
    """Send COST_MESSAGES while the consumer drains: (sender µs/message, consumer
    µs/poll, messages/poll)."""
    async with subject.open(COST_CAPACITY) as channel:
        consumer = _Consumer(channel.pop, stamp=False)
        consumer.start()
        try:
            send = channel.send
            cpu = time.thread_time()
            for _ in repeat(None, COST_MESSAGES):
                await send(MESSAGE)
            cpu = time.thread_time() - cpu
        finally:
            await consumer.stop()
    polls = consumer.poll_cpu
    return cpu / COST_MESSAGES * 1e6, sum(polls) / len(polls) * 1e6, consumer.popped / len(polls)


async def _measure_wake(subject: Subject) -> tuple[list[float], float, float]:
    """Steady wake latencies and the one after a stall (seconds), and the loop's
    CPU fraction during the stall.

    With capacity 1, the consumer's pop of message k makes the room that the
    waiting send of message k + 1 takes: its latency is the time from that pop
    to that ``send`` returning. (Clamped at 0: the loop may resume the sender
    before the consumer thread has noted the time of its pop.)
    """
    async with subject.open(WAKE_CAPACITY) as channel:
        consumer = _Consumer(channel.pop, stamp=True)
        sender = _Sender(channel.send)
        consumer.start()
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(sender.run)
                await sender.wait_sent(WAKE_MESSAGES + 1)
                await consumer.pause()  # the buffer fills and one send waits
                stalled_at = len(consumer.pop_times)
                await anyio.sleep(SETTLE)
                cpu, wall = time.thread_time(), time.perf_counter()
                await anyio.sleep(STALL)
                blocked = (time.thread_time() - cpu) / (time.perf_counter() - wall)
                consumer.active = True
                await sender.wait_sent(stalled_at + 2)
                tasks.cancel_scope.cancel()
        finally:
            await consumer.stop()
    popped, sent = consumer.pop_times, sender.sent

    def latency(k: int) -> float:
        return max(sent[k + 1] - popped[k], 0.0)

    steady = [latency(k) for k in range(WAKE_WARMUP, WAKE_MESSAGES)]
    return steady, latency(stalled_at), blocked


async def _measure(subject: Subject) -> AsyncResult:
    send_cpu, poll_cpu, per_poll = await _measure_cost(subject)
    steady, after_stall, blocked = await _measure_wake(subject)
    return AsyncResult(
        subject=subject.name,
        send_cpu_us=send_cpu,
        poll_cpu_us=poll_cpu,
        messages_per_poll=per_poll,
        wake_p50=statistics.median(steady) / PERIOD,
        wake_p99=statistics.quantiles(steady, n=100)[98] / PERIOD,
        wake_after_stall=after_stall / PERIOD,
        blocked_cpu=blocked,
    )


@asynccontextmanager
async def _open_midibuffer(capacity: int) -> AsyncIterator[Channel]:
    producer, consumer = midi_buffer(capacity)
    async with AsyncMidiProducer(producer) as aproducer:
        yield Channel(aproducer.send, consumer.try_pop)


@asynccontextmanager
async def _open_anyio_stream(capacity: int) -> AsyncIterator[Channel]:
    send, receive = anyio.create_memory_object_stream[MidiMessage](capacity)
    token = anyio.lowlevel.current_token()
    run_sync, receive_nowait = anyio.from_thread.run_sync, receive.receive_nowait

    def pop() -> MidiMessage | None:
        try:
            return run_sync(receive_nowait, token=token)
        except anyio.WouldBlock:
            return None

    with send, receive:
        yield Channel(send.send, pop)


def _subjects() -> list[Subject]:
    subjects = [Subject("midibuffer", _open_midibuffer)]
    try:
        import janus  # a dev extra: without it, the subject is skipped
    except ImportError:
        print("# janus is not installed (a dev extra): skipping the janus subject")
    else:

        @asynccontextmanager
        async def open_janus(capacity: int) -> AsyncIterator[Channel]:
            queue: janus.Queue[MidiMessage] = janus.Queue(capacity)
            get = queue.sync_q.get_nowait

            def pop() -> MidiMessage | None:
                try:
                    return get()
                except janus.SyncQueueEmpty:
                    return None

            try:
                yield Channel(queue.async_q.put, pop)
            finally:
                await queue.aclose()

        subjects.append(Subject("janus", open_janus))
    subjects.append(Subject("anyio memory stream + from_thread", _open_anyio_stream))
    return subjects


def measure_async_cases() -> list[AsyncResult]:
    """Measure every subject, midibuffer first, each in its own event loop.

    The cyclic garbage collector is paused while a subject runs, as in ``timeit``.
    """
    results = []
    for subject in _subjects():
        gc.collect()
        gc.disable()
        try:
            results.append(anyio.run(_measure, subject, backend="asyncio"))
        finally:
            gc.enable()
    return results


def check_async_targets(results: list[AsyncResult]) -> list[AsyncTarget]:
    """The issue's targets, for midibuffer (the first result)."""
    ours = results[0]
    return [
        AsyncTarget(
            "waiting send completes within 2 consumer periods after room appears (p99)",
            ours.wake_p99,
            2.0,
            inclusive=True,
        ),
        AsyncTarget(
            "event loop CPU while the consumer stalls 1 s, % of one core",
            ours.blocked_cpu * 100,
            5.0,
            inclusive=False,
        ),
    ]


def format_async_report(results: list[AsyncResult], targets: list[AsyncTarget]) -> str:
    """Markdown tables, in the style of :func:`~midibuffer.app.bench.timing.format_report`."""
    lines = [
        "| subject | sender µs CPU/message | consumer µs/poll | messages/poll "
        "| wake p50 / p99 (periods) | wake after stall (periods) | CPU while blocked % |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.subject} | {r.send_cpu_us:.2f} | {r.poll_cpu_us:.1f} | "
            f"{r.messages_per_poll:.1f} | {r.wake_p50:.2f} / {r.wake_p99:.2f} | "
            f"{r.wake_after_stall:.2f} | {r.blocked_cpu * 100:.2f} |"
        )
    lines += ["", "| target | value | goal | met |", "|---|---:|---:|---|"]
    for target in targets:
        goal = f"{'<=' if target.inclusive else '<'} {target.limit:g}"
        lines.append(
            f"| {target.wording} | {target.value:.3f} | {goal} | {'yes' if target.met else 'NO'} |"
        )
    return "\n".join(lines)
