"""Benchmarks that compare midibuffer with its peers in one run, as ratios.

Run ``python -m midibuffer.bench`` (``--help`` for options). The machine
this runs on is usually shared and noisy, so absolute times mean little: each
case times every subject in interleaved rounds and reports the ratio of the
best (minimum) times, which noise affects least. ``docs/benchmarks.md``
explains the method and records figures.
"""

from midibuffer.bench.timing import (
    Case,
    CaseResult,
    Target,
    TargetResult,
    check_targets,
    format_report,
    run_cases,
)

__all__ = [
    "Case",
    "CaseResult",
    "Target",
    "TargetResult",
    "check_targets",
    "format_report",
    "run_cases",
]
