"""Sample-accurate block timing for audio callbacks: the public path of
:mod:`midibuffer.adapters.scheduler`, which holds the code and its documentation.

>>> from midibuffer.scheduler import BlockScheduler
>>> BlockScheduler.__module__
'midibuffer.adapters.scheduler'
"""

from midibuffer.adapters.scheduler import BlockEvents, BlockScheduler, SchedulerStats, StreamClock

__all__ = ["BlockEvents", "BlockScheduler", "SchedulerStats", "StreamClock"]
