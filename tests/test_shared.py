"""shared_midi_buffer(): the buffer's specification across processes, deaths, a
scribbled segment, and nothing left behind in /dev/shm."""

from __future__ import annotations

import copy
import gc
import itertools
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from midibuffer import (
    MAX_SYSEX_BYTES,
    AbandonedError,
    AsyncMidiProducer,
    BlockingMidiProducer,
    ClosedEndpointError,
    EndpointInUseError,
    MidiMessage,
    SharedMidiBufferProducer,
    shared_midi_buffer,
)
from midibuffer.buffer import CORE
from midibuffer.scheduler import BlockScheduler

from harness import own_segments, wait_for
from shared_children import (
    consume,
    consume_to_end,
    hold_then_wait,
    number,
    numbered,
    produce,
    send_then_die,
)

pytestmark = pytest.mark.skipif(CORE != "c", reason="the shared ring needs the C core")

SPAWN = multiprocessing.get_context("spawn")


def segments() -> set[str]:
    return own_segments()


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """Every test must leave no segment of its own in /dev/shm."""
    before = segments()
    yield
    gc.collect()
    deadline = time.monotonic() + 2  # a peer's watcher unlinks within a few ms
    while segments() - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert segments() - before == set()


# --- the same specification as midi_buffer(), in one process -------------------------------


def test_capacity_is_exact_and_order_and_times_are_kept() -> None:
    producer, consumer = shared_midi_buffer(3)
    assert [producer.try_send(numbered(i)) for i in range(4)] == [True, True, True, False]
    assert producer.is_full()
    assert [consumer.try_pop() for _ in range(4)] == [numbered(0), numbered(1), numbered(2), None]
    assert consumer.is_empty()
    stats = producer.stats()
    assert (stats.capacity, stats.sent, stats.dropped, stats.popped, stats.fill) == (3, 3, 1, 3, 0)
    assert stats.peak_fill == 3


def test_messages_without_time_and_every_kind_round_trip() -> None:
    producer, consumer = shared_midi_buffer(16)
    messages = [
        MidiMessage.note_on(3, 60, 100),
        MidiMessage.pitchwheel(0, -8192, time=0.25),
        MidiMessage.program_change(9, 5),
        MidiMessage.clock(time=1e9),
        MidiMessage.sysex(b"\x01\x02\x03"),  # 5 bytes: inside the slot
        MidiMessage.sysex(bytes(range(7))),  # 9 bytes: the SysEx area
        MidiMessage.songpos(1000),
    ]
    for message in messages:
        assert producer.try_send(message)
    assert [consumer.try_pop() for _ in messages] == messages


def test_sysex_up_to_max_sysex_bytes_is_carried_whole() -> None:
    producer, consumer = shared_midi_buffer(4)
    biggest = MidiMessage.sysex(bytes(i % 128 for i in range(MAX_SYSEX_BYTES - 2)))
    assert len(biggest) == MAX_SYSEX_BYTES
    for _ in range(5):  # around the SysEx area more than once
        assert producer.try_send(biggest)
        assert producer.try_send(MidiMessage.start())
        assert consumer.try_pop() == biggest
        assert consumer.try_pop() == MidiMessage.start()


def test_a_sysex_that_finds_no_room_is_dropped_and_counted() -> None:
    producer, consumer = shared_midi_buffer(8)
    big = MidiMessage.sysex(bytes(50_000))
    assert producer.try_send(big) and producer.try_send(big)
    assert not producer.try_send(big)  # 150,000 bytes do not fit in 128 KiB
    assert producer.try_send(MidiMessage.stop())  # short messages still do
    assert producer.stats().dropped == 1
    assert [consumer.try_pop() for _ in range(4)] == [big, big, MidiMessage.stop(), None]


def test_closing_the_producer_ends_the_stream_after_what_it_sent() -> None:
    producer, consumer = shared_midi_buffer(4)
    producer.try_send(numbered(1))
    producer.close()
    assert consumer.is_abandoned() and not consumer.is_finished()
    assert consumer.try_pop() == numbered(1)
    assert consumer.is_finished()
    with pytest.raises(ClosedEndpointError):
        producer.try_send(numbered(2))


def test_closing_the_consumer_abandons_the_producer() -> None:
    producer, consumer = shared_midi_buffer(4)
    consumer.close()
    assert producer.is_abandoned()
    assert not producer.try_send(numbered(1))
    assert producer.stats().dropped == 1
    with pytest.raises(ClosedEndpointError):
        consumer.try_pop()


def test_drain_into_keeps_what_append_refused() -> None:
    producer, consumer = shared_midi_buffer(8)
    for i in range(4):
        producer.try_send(numbered(i))

    class Refusing(list[MidiMessage]):
        def append(self, message: MidiMessage) -> None:
            if number(message) == 2:
                raise MemoryError("refused")
            super().append(message)

    out = Refusing()
    with pytest.raises(MemoryError):
        consumer.drain_into(out)
    assert out == [numbered(0), numbered(1)]
    assert consumer.stats().popped == 2
    assert [consumer.try_pop(), consumer.try_pop(), consumer.try_pop()] == [
        numbered(2),
        numbered(3),
        None,
    ]


def test_ends_cannot_be_made_by_hand_or_copied() -> None:
    producer, consumer = shared_midi_buffer(4)
    with pytest.raises(TypeError, match="cannot be created directly"):
        SharedMidiBufferProducer(producer._ring)
    with pytest.raises(TypeError, match="unique"):
        copy.copy(consumer)


def test_the_adapters_take_shared_ends() -> None:
    import anyio

    producer, consumer = shared_midi_buffer(2)
    scheduler = BlockScheduler(consumer, 48_000)
    with pytest.raises(EndpointInUseError):
        BlockScheduler(consumer, 48_000)

    async def send() -> None:
        async with AsyncMidiProducer(producer) as sender:
            await sender.send(MidiMessage.note_on(0, 60, time=1000.0))

    anyio.run(send)
    events = scheduler.collect(64, now=1000.0)  # the clock starts: sample 0 is at 1000.0
    assert [(offset, message.note) for offset, message in events] == [(0, 60)]
    scheduler.close()
    assert producer.is_abandoned()


def test_without_the_c_core_it_says_so() -> None:
    code = (
        "from midibuffer import shared_midi_buffer, MidiBufferError\n"
        "try:\n    shared_midi_buffer(4)\n"
        "except MidiBufferError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"MIDIBUFFER_PURE_PYTHON": "1"},
    )
    assert "needs midibuffer's C core" in result.stdout


# --- across processes ------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [1, 3, 64, 256])
def test_order_across_processes(capacity: int) -> None:
    producer, consumer = shared_midi_buffer(capacity)
    mine, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=consume, args=(consumer, 20_000, theirs))
    child.start()
    del consumer
    try:
        index = 0
        while index < 20_000:
            if producer.try_send(numbered(index % 16384)):
                index += 1
        got, times_ok, _, stats = mine.recv()
    finally:
        child.join(timeout=60)
    assert got == [i % 16384 for i in range(20_000)]
    assert times_ok
    assert stats.popped == 20_000 and producer.stats().sent == 20_000
    producer.close()


def test_a_consumer_in_the_parent_and_a_producer_in_a_child() -> None:
    producer, consumer = shared_midi_buffer(64)
    mine, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=produce, args=(producer, 5_000, theirs))
    child.start()
    del producer
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 5_000 and time.monotonic() < deadline:
        message = consumer.try_pop()
        if message is not None:
            got.append(number(message))
    assert mine.recv().sent == 5_000
    child.join(timeout=30)
    assert got == list(range(5_000))
    wait_for(consumer.is_finished)  # the child exited: the stream ended
    consumer.close()


def test_the_original_of_a_moved_end_raises_endpoint_in_use_error() -> None:
    producer, consumer = shared_midi_buffer(4)
    mine, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=hold_then_wait, args=(consumer, theirs))
    child.start()
    try:
        mine.recv()  # attached
        with pytest.raises(EndpointInUseError, match="one process per end"):
            consumer.try_pop()
        with pytest.raises(EndpointInUseError):
            pickle.dumps(consumer)  # and it cannot move again
        assert producer.try_send(numbered(1))  # the other end is untouched
    finally:
        child.kill()
        child.join()
    producer.close()


def test_a_killed_consumer_process_abandons_the_producer_within_100_ms() -> None:
    producer, consumer = shared_midi_buffer(4)
    mine, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=hold_then_wait, args=(consumer, theirs))
    child.start()
    del consumer
    mine.recv()
    for _ in range(4):
        assert producer.try_send(numbered(1))  # full: a sender will wait
    sender = BlockingMidiProducer(producer)
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            sender.send(numbered(2))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=send)
    thread.start()
    wait_for(lambda: sender.stats().waits == 1)
    assert not producer.is_abandoned()
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    killed = time.monotonic()
    wait_for(producer.is_abandoned)
    seen_after = time.monotonic() - killed
    thread.join(timeout=10)
    child.join()
    assert seen_after < 0.1, f"seen after {seen_after * 1000:.0f} ms"
    assert len(outcome) == 1 and isinstance(outcome[0], AbandonedError)
    sender.close()


def test_a_killed_producer_process_leaves_its_messages_then_the_end() -> None:
    producer, consumer = shared_midi_buffer(64)
    mine, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=send_then_die, args=(producer, 50, theirs))
    child.start()
    del producer
    assert mine.recv() == 50
    child.join()
    assert child.exitcode == -signal.SIGKILL
    got = []
    while (message := consumer.try_pop()) is not None:
        got.append(number(message))
    assert got == list(range(50))
    wait_for(consumer.is_finished, seconds=1)
    consumer.close()


def test_an_end_inherited_over_fork_is_taken_by_the_child() -> None:
    producer, consumer = shared_midi_buffer(8)
    fork = multiprocessing.get_context("fork")
    mine, theirs = fork.Pipe()
    child = fork.Process(target=produce, args=(producer, 100, theirs))
    child.start()
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 100 and time.monotonic() < deadline:
        message = consumer.try_pop()
        if message is not None:
            got.append(number(message))
    assert mine.recv().sent == 100
    child.join()
    assert got == list(range(100))
    with pytest.raises(EndpointInUseError):
        producer.try_send(numbered(1))
    consumer.close()


# --- an untrusted segment ----------------------------------------------------------------------

SCRIBBLE = textwrap.dedent(
    """
    import os, random, sys
    from midibuffer import MidiBufferError, MidiMessage, shared_midi_buffer

    seed, region = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(seed)
    producer, consumer = shared_midi_buffer(16)
    for i in range(10):
        producer.try_send(MidiMessage.sysex(bytes(i % 128 for i in range(20))) if i % 3 == 0
                          else MidiMessage.note_on(0, i, 100, time=float(i)))
    path = "/dev/shm" + producer._ring.name
    with open(path, "r+b") as segment:
        size = os.fstat(segment.fileno()).st_size
        start, end = {"slots": (384, size), "header": (64, 384), "all": (0, size)}[region]
        for _ in range(200):
            segment.seek(rng.randrange(start, end))
            segment.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))))
    popped = errors = 0
    for _ in range(40):
        try:
            message = consumer.try_pop()
        except MidiBufferError:
            errors += 1
            continue
        if message is not None:
            popped += 1
            again = MidiMessage(bytes(message), time=message.time)  # valid, or raises
            assert again == message
    for end in (producer, consumer):
        for call in ("is_full", "is_empty", "stats", "is_abandoned"):
            try:
                getattr(end, call, lambda: None)()
            except MidiBufferError:
                pass
    print(popped, errors)
    """
)


@pytest.mark.parametrize("region", ["slots", "header", "all"])
def test_a_scribbled_segment_gives_errors_or_valid_messages_never_a_crash(region: str) -> None:
    crashes = []
    for seed in range(6):
        result = subprocess.run(
            [sys.executable, "-c", SCRIBBLE, str(seed), region],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            crashes.append((seed, result.returncode, result.stderr[-400:]))
    assert crashes == []


def test_no_resource_tracker_warning_and_no_segment_after_a_spawned_child() -> None:
    code = textwrap.dedent(
        """
        import multiprocessing
        from midibuffer import shared_midi_buffer
        import shared_children

        if __name__ == "__main__":
            ctx = multiprocessing.get_context("spawn")
            producer, consumer = shared_midi_buffer(8)
            mine, theirs = ctx.Pipe()
            child = ctx.Process(target=shared_children.consume, args=(consumer, 3, theirs))
            child.start()
            for i in range(3):
                producer.try_send(shared_children.numbered(i))
            print(mine.recv()[0])
            child.join()
            producer.close()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parent,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parent)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 1, 2]"
    assert result.stderr == ""  # no resource_tracker warning, nothing at all


# --- found in review ---------------------------------------------------------------------------


def test_a_message_made_without_its_constructor_is_refused_not_read() -> None:
    producer, consumer = shared_midi_buffer(4)
    with pytest.raises(TypeError, match="not made by its constructor"):
        producer.try_send(object.__new__(MidiMessage))
    assert producer.stats().sent == 0
    producer.close()
    consumer.close()


def test_a_pickled_end_is_retired_at_once() -> None:
    producer, consumer = shared_midi_buffer(4)
    moved = pickle.dumps(consumer)  # on its way: this copy may not pop meanwhile
    with pytest.raises(EndpointInUseError):
        consumer.try_pop()
    attached = pickle.loads(moved)
    producer.try_send(numbered(7))
    assert attached.try_pop() == numbered(7)
    attached.close()
    producer.close()


def test_both_ends_can_go_to_two_children_even_if_the_parent_drops_them() -> None:
    producer, consumer = shared_midi_buffer(64)
    mine_c, theirs_c = SPAWN.Pipe()
    mine_p, theirs_p = SPAWN.Pipe()
    reader = SPAWN.Process(target=consume, args=(consumer, 500, theirs_c))
    reader.start()
    del consumer
    gc.collect()
    writer = SPAWN.Process(target=produce, args=(producer, 500, theirs_p))
    writer.start()
    del producer
    gc.collect()
    assert mine_p.recv().sent == 500
    got, times_ok, _, _ = mine_c.recv()
    reader.join()
    writer.join()
    assert got == list(range(500)) and times_ok


def test_a_forked_child_that_exits_leaves_the_parents_segment_alone() -> None:
    code = textwrap.dedent(
        """
        import gc, os, sys
        from midibuffer import MidiMessage, shared_midi_buffer

        producer, consumer = shared_midi_buffer(4)
        name = "/dev/shm" + producer._ring.name
        pid = os.fork()
        if pid == 0:  # the child touches nothing and exits normally: the ends are collected
            del producer, consumer
            gc.collect()
            sys.exit(0)
        os.waitpid(pid, 0)
        print(os.path.exists(name), producer.try_send(MidiMessage.clock()), consumer.try_pop())
        producer.close()
        consumer.close()
        print(os.path.exists(name))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True True <MidiMessage clock>", "False"]


# --- the consumer's real-time contract holds across processes too ------------------------------


def poll(methods: tuple[Any, Any, Any], times: int) -> tuple[int, int, int]:
    """Call each polling method *times* times; measure what that allocated.

    Returns (traced bytes before, after, peak) and is called once to warm up
    first, so that CPython's one-time costs (quickening this very code) come
    before the measured run."""
    pop, empty, finished = methods
    loops = [itertools.repeat(None, times) for _ in range(3)]
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for _ in loops[0]:
        pop()
    for _ in loops[1]:
        empty()
    for _ in loops[2]:
        finished()
    after, peak = tracemalloc.get_traced_memory()
    return before, after, peak


def test_empty_polls_allocate_nothing_and_leave_the_gc_counter_alone() -> None:
    producer, consumer = shared_midi_buffer(64)
    methods = (consumer.try_pop, consumer.is_empty, consumer.is_finished)
    gc.collect()
    gc.disable()
    ballast = [[] for _ in range(100)]  # the counter must stay above 0 to show frees
    tracemalloc.start()
    try:
        poll(methods, 64)
        count = gc.get_count()[0]
        few = poll(methods, 10)
        few_objects = gc.get_count()[0] - count
        count = gc.get_count()[0]
        many = poll(methods, 100_000)
        many_objects = gc.get_count()[0] - count
    finally:
        tracemalloc.stop()
        gc.enable()
        del ballast
        producer.close()
        consumer.close()
    # The measuring itself costs a few bytes and objects (what poll() makes
    # and returns); polling
    # 100,000 times must cost exactly what polling 10 times does: nothing more.
    assert many[1] - many[0] == few[1] - few[0]
    assert many[2] - many[0] == few[2] - few[0]
    assert many_objects == few_objects  # no tracked object per poll: no GC pressure


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_million_empty_polls_make_no_system_call_in_the_polling_thread(tmp_path: Path) -> None:
    """strace every thread, then look at the polling thread only: the heartbeat
    thread sleeps and reads /proc by design; the poll must not."""
    script = textwrap.dedent(
        """
        import itertools, os, threading
        from midibuffer import shared_midi_buffer
        producer, consumer = shared_midi_buffer(64)
        pop, empty, finished = consumer.try_pop, consumer.is_empty, consumer.is_finished
        pop(); empty(); finished()
        os.write(2, f"midibuffer-start {threading.get_native_id()}\\n".encode())
        for _ in itertools.repeat(None, 1_000_000):
            pop()
            empty()
            finished()
        os.write(2, b"midibuffer-end\\n")
        producer.close(); consumer.close()
        """
    )
    log = tmp_path / "strace.log"
    subprocess.run(
        ["strace", "-f", "-o", str(log), sys.executable, "-c", script],
        check=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        timeout=120,
    )
    lines = log.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "midibuffer-start" in line)
    end = next(i for i, line in enumerate(lines) if "midibuffer-end" in line)
    poller = lines[start].split()[0]  # strace -f prefixes each line with the thread id
    assert poller.isdigit()
    calls = [line for line in lines[start + 1 : end] if line.split()[0] == poller]
    # With other threads traced, the start marker's own write may show as
    # "<unfinished ...>" then "<... write resumed>": that line is the marker.
    if calls and "<... write resumed>" in calls[0]:
        calls = calls[1:]
    assert calls == []


def test_an_end_pickles_to_a_forkserver_child() -> None:
    forkserver = multiprocessing.get_context("forkserver")
    producer, consumer = shared_midi_buffer(16)
    mine, theirs = forkserver.Pipe()
    child = forkserver.Process(target=consume, args=(consumer, 300, theirs))
    child.start()
    del consumer
    index = 0
    while index < 300:
        if producer.try_send(numbered(index)):
            index += 1
    got, times_ok, _, _ = mine.recv()
    child.join()
    assert got == list(range(300)) and times_ok
    producer.close()


def test_the_producer_may_close_before_the_pickled_consumer_attaches() -> None:
    """docs/realtime.md's example: send, close at once, the child pops and ends."""
    producer, consumer = shared_midi_buffer(16)
    mine, theirs = SPAWN.Pipe()
    child = SPAWN.Process(target=consume_to_end, args=(consumer, theirs))
    child.start()
    del consumer
    for index in range(3):
        assert producer.try_send(numbered(index))
    producer.close()  # before the child attached, most likely
    got, finished = mine.recv()
    child.join()
    assert (got, finished, child.exitcode) == ([0, 1, 2], True, 0)
