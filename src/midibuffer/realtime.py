"""The GIL-aware real-time mode: the public path of :mod:`midibuffer.io.realtime`,
which holds the code and its documentation."""

from midibuffer.io.realtime import MIN_SWITCH_INTERVAL, RealtimeMode, switch_interval_for

__all__ = ["MIN_SWITCH_INTERVAL", "RealtimeMode", "switch_interval_for"]
