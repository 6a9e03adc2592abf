"""The retry pacing (DrainTracker) on a virtual clock: pure logic, no threads."""

from __future__ import annotations

import pytest

from midibuffer.adapters.retry import DrainTracker

MIN, MAX = 0.000_25, 0.05


def tracker() -> DrainTracker:
    return DrainTracker(MIN, MAX)


def drive(t: DrainTracker, period: float, duration: float) -> list[float]:
    """A consumer draining every *period* s; the sender looks after each pause."""
    now, popped, pauses = 0.0, 0, []
    t.begin(popped, now)
    next_drain = period
    while now < duration:
        pause = t.next_pause(popped, now)
        pauses.append(pause)
        now += pause
        while next_drain <= now:
            popped += 4
            next_drain += period
    return pauses


def test_before_any_drain_it_starts_at_the_minimum_interval() -> None:
    t = tracker()
    t.begin(0, 0.0)
    assert t.next_pause(0, 0.0) == MIN
    assert t.period is None


def test_it_learns_the_drain_period_and_looks_four_times_per_period() -> None:
    t = tracker()
    pauses = drive(t, period=0.004, duration=1.0)
    # A virtual clock: the values are exact up to float rounding.
    assert t.period == pytest.approx(0.004)
    assert pauses[-1] == pytest.approx(0.001)


def test_a_stalled_consumer_makes_it_back_off_to_the_maximum() -> None:
    t = tracker()
    t.begin(0, 0.0)
    now, pauses = 0.0, []
    for _ in range(40):
        pause = t.next_pause(0, now)
        pauses.append(pause)
        now += pause
    assert pauses == sorted(pauses)  # never speeds up while nothing moves
    assert pauses[-1] == MAX
    assert now < 2.0  # reached the maximum quickly: few wake-ups


def test_a_drain_after_a_stall_resets_the_pause_to_the_learned_one() -> None:
    t = tracker()
    drive(t, period=0.002, duration=0.5)
    learned = t.period
    t.begin(100, 10.0)
    for step in range(30):
        t.next_pause(100, 10.0 + step * 0.05)
    assert t.next_pause(100, 12.0) == MAX
    assert t.next_pause(104, 12.05) == pytest.approx(learned / 4)  # type: ignore[operator]
    assert t.period == learned  # the stall was not averaged in


def test_pauses_stay_within_the_bounds() -> None:
    slow = tracker()
    assert max(drive(slow, period=1.0, duration=20.0)) <= MAX
    fast = tracker()
    assert min(drive(fast, period=0.000_01, duration=0.01)) >= MIN


@pytest.mark.parametrize(
    ("low", "high", "error", "match"),
    [
        (0, 1, ValueError, "min_interval must be a positive finite"),
        (0.1, float("inf"), ValueError, "max_interval must be a positive finite"),
        (0.1, 0.01, ValueError, "must not be less than min_interval"),
        ("0.1", 1, TypeError, "min_interval must be a number"),
        (0.1, True, TypeError, "max_interval must be a number"),
    ],
)
def test_bounds_are_validated(low: object, high: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        DrainTracker(low, high)  # type: ignore[arg-type]


def test_the_period_is_learned_across_short_waits() -> None:
    """Each wait ends at the first drain it sees; consecutive waits with no
    drain missed in between still give period samples."""
    t = tracker()
    popped, now = 0, 0.0
    for _ in range(20):
        t.begin(popped, now)  # the sender refilled the buffer right after the last drain
        now += 0.001
        t.next_pause(popped, now)  # nothing yet
        popped += 2  # the consumer drains, 2 ms after the previous drain
        now += 0.001
        t.next_pause(popped, now)  # seen: the wait ends
    assert t.period == pytest.approx(0.002)


def test_drains_missed_between_waits_give_no_sample() -> None:
    t = tracker()
    t.begin(0, 0.0)
    t.next_pause(2, 0.001)  # a drain seen at 1 ms
    t.begin(10, 5.0)  # the counter moved while nobody looked
    t.next_pause(12, 5.001)
    assert t.period is None


def test_a_consumer_that_really_slowed_down_gets_a_new_period_after_three_samples() -> None:
    t = tracker()
    drive(t, period=0.001, duration=0.2)
    assert t.period == pytest.approx(0.001)
    t.begin(1000, 10.0)
    seen = [t.next_pause(1000 + 4 * drain, 10.0 + 0.02 * drain) for drain in range(1, 5)]
    assert t.period == pytest.approx(0.02)  # 64-frame blocks became 960-frame blocks
    assert seen[-1] == pytest.approx(0.005)
