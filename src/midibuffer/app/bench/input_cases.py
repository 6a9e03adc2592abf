"""MIDI input over real JACK ports: rtmidi's callback against the polling thread.

Each run sends :data:`MESSAGES` numbered messages from an idle sender process
(:class:`~midibuffer.testing.midi_sender.SenderProcess`) to a
:func:`~midibuffer.rtmidi.open_virtual_input` in this process, which feeds a
:func:`~midibuffer.shared_midi_buffer`; a consumer process pops the shared
ring every 0.1 ms and notes when each message became available. So the
latency is send -> available to a consumer that is never starved, and
"loaded" (two busy pure-Python threads) burdens only the receiving process,
as in a real program that does work beside its MIDI input.

Also measured: how far the stamps' gaps are from the sends' gaps (the
backend's clock, see :class:`~midibuffer.rtmidi.MidiInput`), what an idle
polling thread costs for several poll intervals (its own CPU clock), and
what JACK itself does to messages between plain rtmidi clients (no
midibuffer code) when its cycle stalls, as on a virtual machine whose host
is busy: :func:`measure_jack_stalls`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import statistics
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from midibuffer.buffer.shared import SharedMidiBufferConsumer, shared_midi_buffer
from midibuffer.io.midi_input import (
    DEFAULT_IDLE_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    open_virtual_input,
)
from midibuffer.testing.arrivals import in_order
from midibuffer.testing.jackd import PERIOD_FRAMES, SAMPLE_RATE
from midibuffer.testing.load import busy_threads
from midibuffer.testing.midi_sender import SenderProcess

__all__ = [
    "MESSAGES",
    "RUNS",
    "IdleCost",
    "InputRun",
    "StallRun",
    "format_input_report",
    "format_stall_report",
    "measure_idle_costs",
    "measure_input_runs",
    "measure_jack_stalls",
]

MESSAGES = 2_000
RUNS = 10
JACK_PERIOD = PERIOD_FRAMES / SAMPLE_RATE
_POP_EVERY = 0.000_1  # the consumer process's polling period
_QUIET = 1.0  # seconds without a new message after which a run is over
_INTERVALS = (0.000_5, 0.001, 0.002, 0.005, 0.01)
STALL = 0.03  # seconds jackd is stopped (SIGSTOP) ...
STALL_EVERY = 0.2  # ... this often, in the stalled runs (a run sends for about 0.55 s)
WITNESSES = 2


@dataclass(frozen=True)
class InputRun:
    """One run of :data:`MESSAGES` messages.

    Attributes:
        mode: ``"callback"`` or ``"polling"``.
        loaded: two busy pure-Python threads ran in the receiving process.
        arrived: messages the consumer popped.
        received: messages the input took from rtmidi (the rest were lost
            by JACK before the input, when there is a difference).
        lost: numbers that never arrived.
        bad: arrivals that were copies, out of order or not one of ours
            (garbled).
        latencies: send -> available to the consumer, per distinct arrival.
        gap_errors: ``|stamp gap - send gap|`` between consecutive arrivals.
    """

    mode: str
    loaded: bool
    received: int
    arrived: int
    lost: int
    bad: int
    latencies: list[float]
    gap_errors: list[float]

    @property
    def exact(self) -> bool:
        return self.lost == self.bad == 0


@dataclass(frozen=True)
class StallRun:
    """What one plain rtmidi input client got of one run of :data:`MESSAGES` messages.

    Attributes:
        stalled: jackd was stopped for :data:`STALL` every :data:`STALL_EVERY` seconds.
        witness: which of the :data:`WITNESSES` clients (they share the run).
        lost: numbers that never arrived intact.
        bad: arrivals that were copies, out of order or garbled.
    """

    stalled: bool
    witness: int
    lost: int
    bad: int

    @property
    def exact(self) -> bool:
        return self.lost == self.bad == 0


@dataclass(frozen=True)
class IdleCost:
    """What an idle polling thread costs: its CPU time per second of wall time."""

    interval: float
    core_fraction: float


def _consume(consumer: SharedMidiBufferConsumer, expected: int, results: Connection) -> None:
    """The consumer process: pop until *expected* arrived or it is quiet; send the record."""
    record: list[tuple[bytes, float | None, float]] = []
    results.send("ready")
    last = time.perf_counter()
    while len(record) < expected and time.perf_counter() - last < _QUIET + 2.0:
        message = consumer.try_pop()
        if message is None:
            time.sleep(_POP_EVERY)
            continue
        last = time.perf_counter()
        record.append((message.data, message.time, last))
    results.send(record)
    results.close()


def _one_run(mode: str, loaded: bool, index: int) -> InputRun:
    context = multiprocessing.get_context("spawn")
    producer, consumer = shared_midi_buffer(4 * MESSAGES)
    mine, theirs = context.Pipe(duplex=False)
    popper = context.Process(target=_consume, args=(consumer, MESSAGES, theirs), daemon=True)
    popper.start()
    theirs.close()
    del consumer
    if mine.recv() != "ready":
        raise RuntimeError("the consumer process did not start")
    port = f"bench-in-{mode}-{index}"
    client = f"midibuffer-bench-{multiprocessing.current_process().pid}"
    interval = None if mode == "callback" else DEFAULT_POLL_INTERVAL
    with (
        busy_threads(2 if loaded else 0),
        open_virtual_input(
            port, producer, client_name=client, poll_interval=interval
        ) as midi_input,
        SenderProcess("connect", f"{client}:{port}") as sender,
    ):
        sender.start(MESSAGES)
        send_times = sender.send_times()
        record: list[tuple[bytes, float | None, float]] = mine.recv()
    popper.join()
    return _judge(mode, loaded, midi_input.stats().received, record, send_times)


def _judge(
    mode: str,
    loaded: bool,
    received: int,
    record: list[tuple[bytes, float | None, float]],
    sent: list[float],
) -> InputRun:
    numbers = [_number(data) for data, _, _ in record]
    intact = _intact(numbers)
    latencies: list[float] = []
    gap_errors: list[float] = []
    previous = -1
    previous_stamp = 0.0
    for number, (_, stamp, popped), good in zip(numbers, record, intact, strict=True):
        if not good:
            continue
        latencies.append(popped - sent[number])
        if previous >= 0 and stamp is not None:
            gap_errors.append(abs((stamp - previous_stamp) - (sent[number] - sent[previous])))
        previous, previous_stamp = number, stamp if stamp is not None else 0.0
    return InputRun(
        mode=mode,
        loaded=loaded,
        received=received,
        arrived=len(record),
        lost=MESSAGES - sum(intact),
        bad=len(record) - sum(intact),
        latencies=latencies,
        gap_errors=gap_errors,
    )


def _number(data: bytes | list[int]) -> int:
    """The number a sent message carries, or -1 for anything that is not one of ours."""
    return data[1] * 128 + data[2] if len(data) == 3 and data[0] == 0xB0 else -1


def _intact(numbers: list[int]) -> list[bool]:
    """For each arrival: part of the longest run of our numbers that arrived in
    order (:func:`~midibuffer.testing.arrivals.in_order`), so that one garbled
    number does not condemn the messages after it."""
    flags = [False] * len(numbers)
    for index in in_order(numbers, MESSAGES):
        flags[index] = True
    return flags


def measure_input_runs(runs: int = RUNS) -> list[InputRun]:
    """*runs* runs per mode and load, interleaved (the machine's noise falls on all alike).

    Needs a JACK server (``JACK_DEFAULT_SERVER``) and python-rtmidi.
    """
    results: list[InputRun] = []
    for index in range(runs):
        for loaded in (False, True):
            for mode in ("callback", "polling"):
                results.append(_one_run(mode, loaded, index))
    return results


def measure_idle_costs(seconds: float = 3.0) -> list[IdleCost]:
    """The polling thread's own CPU time while no message comes, polling every
    *interval* (``poll_interval`` and ``idle_poll_interval`` both), per interval."""
    costs: list[IdleCost] = []
    for interval in _INTERVALS:
        producer, _consumer = shared_midi_buffer(16)
        name = f"bench-idle-{multiprocessing.current_process().pid}"
        with open_virtual_input(
            name, producer, client_name=name, poll_interval=interval, idle_poll_interval=interval
        ):
            (thread,) = [t for t in threading.enumerate() if t.name == "midibuffer-midi-input"]
            assert thread.ident is not None
            clock = time.pthread_getcpuclockid(thread.ident)
            time.sleep(0.2)
            cpu, wall = time.clock_gettime(clock), time.perf_counter()
            time.sleep(seconds)
            cpu = time.clock_gettime(clock) - cpu
            wall = time.perf_counter() - wall
        costs.append(IdleCost(interval, cpu / wall))
    return costs


def measure_jack_stalls(jackd_pid: int, runs: int = RUNS) -> list[StallRun]:
    """*runs* runs, steady and stalled (interleaved), each received by :data:`WITNESSES`
    plain rtmidi clients in this idle process, taking rtmidi's queue after the run: no
    Python runs on JACK's thread and no midibuffer code touches the messages.

    Stalling stops the JACK server *jackd_pid* (``SIGSTOP``) for :data:`STALL` every
    :data:`STALL_EVERY` seconds, as a busy host stops a virtual machine. Needs
    python-rtmidi and that server (``JACK_DEFAULT_SERVER``).
    """
    results: list[StallRun] = []
    for index in range(runs):
        for stalled in (False, True):
            results += _stall_run(jackd_pid if stalled else None, index)
    return results


def _stall_run(jackd_pid: int | None, index: int) -> list[StallRun]:
    import rtmidi

    port = f"bench-stall-{index}-{jackd_pid is not None}"
    client = f"midibuffer-bench-witness-{os.getpid()}"
    witnesses = [
        rtmidi.MidiIn(rtmidi.API_UNIX_JACK, f"{client}-{k}", queue_size_limit=4 * MESSAGES)
        for k in range(WITNESSES)
    ]
    stop = threading.Event()

    def stall() -> None:
        assert jackd_pid is not None
        while not stop.wait(STALL_EVERY):
            os.kill(jackd_pid, signal.SIGSTOP)
            try:
                time.sleep(STALL)
            finally:
                os.kill(jackd_pid, signal.SIGCONT)

    staller = threading.Thread(target=stall, daemon=True)
    try:
        with SenderProcess("virtual", port) as sender:
            for witness in witnesses:
                ports = witness.get_ports()
                witness.open_port(next(i for i, name in enumerate(ports) if port in name))
            if jackd_pid is not None:
                staller.start()
            sender.start(MESSAGES)
            sender.send_times()
            stop.set()
            time.sleep(_QUIET)  # the last cycles
        runs: list[StallRun] = []
        for k, witness in enumerate(witnesses):
            numbers: list[int] = []
            while (message := witness.get_message()) is not None:
                numbers.append(_number(message[0]))
            intact = sum(_intact(numbers))
            lost, bad = MESSAGES - intact, len(numbers) - intact
            runs.append(StallRun(jackd_pid is not None, k, lost, bad))
        return runs
    finally:
        stop.set()
        if jackd_pid is not None:
            if staller.is_alive():
                staller.join()
            os.kill(jackd_pid, signal.SIGCONT)  # whatever happened, jackd runs on
        for witness in witnesses:
            witness.close_port()
            witness.delete()


def format_stall_report(runs: list[StallRun]) -> str:
    """The table of :func:`measure_jack_stalls`."""
    lines = [
        "| jackd | client | runs exact | lost | bad (copies, reordered, garbled) |",
        "|---|---|---|---|---|",
    ]
    for stalled in (False, True):
        for witness in range(WITNESSES):
            group = [run for run in runs if run.stalled == stalled and run.witness == witness]
            jackd = f"stopped {STALL * 1e3:g} ms every {STALL_EVERY:g} s" if stalled else "steady"
            lines.append(
                f"| {jackd} | rtmidi client {witness + 1} "
                f"| {sum(run.exact for run in group)}/{len(group)} "
                f"| {sum(run.lost for run in group)} | {sum(run.bad for run in group)} |"
            )
    return "\n".join(lines)


def _p(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[percent - 1]


def format_input_report(runs: list[InputRun], costs: list[IdleCost]) -> str:
    """The table of :func:`measure_input_runs` and :func:`measure_idle_costs`."""
    lines = [
        f"| receiver | mode | runs exact | lost (of them before the input) | bad "
        "| latency p50 | p99 | max | "
        f"stamp gap error p99 (period {JACK_PERIOD * 1e3:.2f} ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for loaded in (False, True):
        for mode in ("callback", "polling"):
            group = [run for run in runs if run.mode == mode and run.loaded == loaded]
            if not group:
                continue
            latencies = [value for run in group for value in run.latencies]
            gaps = [value for run in group for value in run.gap_errors]
            lines.append(
                f"| {'2 busy threads' if loaded else 'idle'} | {mode} "
                f"| {sum(run.exact for run in group)}/{len(group)} "
                f"| {sum(run.lost for run in group)} "
                f"({sum(MESSAGES - run.received for run in group)}) "
                f"| {sum(run.bad for run in group)} "
                f"| {statistics.median(latencies) * 1e3:.2f} ms | {_p(latencies, 99) * 1e3:.2f} ms "
                f"| {max(latencies) * 1e3:.2f} ms | {_p(gaps, 99) * 1e3:.2f} ms |"
            )
    lines += [
        "",
        "| interval (poll_interval = idle_poll_interval) | idle polling thread's CPU time |",
        "|---|---|",
    ]
    for cost in costs:
        default = (
            " (default poll_interval)"
            if cost.interval == DEFAULT_POLL_INTERVAL
            else " (default idle_poll_interval)"
            if cost.interval == DEFAULT_IDLE_POLL_INTERVAL
            else ""
        )
        lines.append(
            f"| {cost.interval * 1e3:g} ms{default} | {cost.core_fraction * 100:.2f}% of a core |"
        )
    return "\n".join(lines)
