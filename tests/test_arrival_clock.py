"""midibuffer.adapters.arrival_clock: a backend's delta times mapped onto perf_counter."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from midibuffer.adapters.arrival_clock import RESYNC, WINDOW, WINDOW_MESSAGES, ArrivalClock


def test_stamps_keep_the_backend_gaps_once_one_take_was_quick() -> None:
    """Messages every 10 ms on the backend; Python takes each 0 to 5 ms late, and one
    (the fourth) at once: from then on every stamp is exact."""
    chooser = random.Random(7)
    clock = ArrivalClock()
    true_offset = 1000.0
    stamps, takes = [], []
    for index in range(200):
        arrival = index * 0.01
        lateness = 0.0 if index == 3 else chooser.uniform(0.0001, 0.005)
        takes.append(true_offset + arrival + lateness)
        stamps.append(clock.stamp(0.0 if index == 0 else 0.01, takes[-1]))
    assert all(stamp <= take for stamp, take in zip(stamps, takes, strict=True))
    assert all(a <= b for a, b in itertools.pairwise(stamps))
    for index in range(3, 200):
        assert stamps[index] == pytest.approx(true_offset + index * 0.01, abs=1e-9)
    assert clock.resyncs == 0


@pytest.mark.parametrize("delta", [math.nan, -0.3, math.inf, -math.inf])
def test_a_delta_that_is_not_a_duration_counts_as_zero(delta: float) -> None:
    clock = ArrivalClock()
    assert clock.stamp(0.0, 5.0) == 5.0
    assert clock.stamp(delta, 5.1) == 5.0  # no time passed on the backend
    assert clock.stamp(0.05, 5.2) == pytest.approx(5.05)  # and the clock still works


def test_a_backend_that_loses_time_is_caught_up_after_a_window() -> None:
    """At message 100 the backend loses 50 ms (a message dropped with its delta): the
    stamps would stay 50 ms early; after a window of contradicting takes they follow."""
    clock = ArrivalClock()
    lost, late = 0.05, 0.000_1  # every take 0.1 ms late

    def arrival(index: int) -> float:  # 200 messages a second, 50 ms of them unseen
        return index * 0.005 + (lost if index >= 100 else 0.0)

    stamps = [clock.stamp(0.0 if i == 0 else 0.005, arrival(i) + late) for i in range(600)]
    assert stamps[99] == pytest.approx(arrival(99) + late, abs=1e-9)
    assert stamps[150] == pytest.approx(arrival(150) + late - lost, abs=1e-9)  # early, for now
    assert clock.resyncs == 1
    caught_up = 100 + int(2 * WINDOW / 0.005)  # within two windows
    assert stamps[caught_up] == pytest.approx(arrival(caught_up) + late, abs=1e-9)
    assert all(a <= b for a, b in itertools.pairwise(stamps))
    assert lost > RESYNC and WINDOW / 0.005 >= WINDOW_MESSAGES


def test_sparse_late_takes_do_not_move_the_offset_up() -> None:
    """A message every 2 s, each taken 20 ms late but the first: too few per window."""
    clock = ArrivalClock()
    assert clock.stamp(0.0, 100.0) == 100.0
    for index in range(1, 20):
        assert clock.stamp(2.0, 100.0 + 2.0 * index + 0.02) == pytest.approx(100.0 + 2.0 * index)
    assert clock.resyncs == 0
