"""RealtimeMode: the switch interval and gc.freeze(), applied and restored."""

from __future__ import annotations

import gc
import sys

import pytest

from midibuffer.realtime import MIN_SWITCH_INTERVAL, RealtimeMode, switch_interval_for


def test_the_switch_interval_is_a_quarter_of_the_block_within_bounds() -> None:
    assert switch_interval_for(64 / 48_000) == pytest.approx(64 / 48_000 / 4)
    assert switch_interval_for(1e-6) == MIN_SWITCH_INTERVAL
    assert switch_interval_for(10.0) == sys.getswitchinterval()  # never longer
    with pytest.raises(ValueError, match="block_period"):
        switch_interval_for(0)


def test_the_mode_applies_and_restores_the_switch_interval_and_the_gc_freeze() -> None:
    before = sys.getswitchinterval()
    frozen_before = gc.get_freeze_count()
    mode = RealtimeMode(256 / 48_000)
    with mode:
        assert mode.active
        assert sys.getswitchinterval() == pytest.approx(256 / 48_000 / 4, abs=1e-6)  # µs steps
        assert gc.get_freeze_count() > frozen_before
        with pytest.raises(RuntimeError, match="already active"):
            mode.__enter__()
    assert not mode.active
    assert sys.getswitchinterval() == before
    assert gc.get_freeze_count() == 0


def test_freezing_can_be_left_out() -> None:
    with RealtimeMode(0.01, freeze_gc=False):
        assert gc.get_freeze_count() == 0
