"""Benchmarks that compare midibuffer with its peers in one run, as ratios.

Run ``midibuffer bench`` (``--help`` for options). The machine
this runs on is usually shared and noisy, so absolute times mean little: each
case times every subject in interleaved rounds and reports the ratio of the
best (minimum) times, which noise affects least. ``docs/benchmarks.md``
explains the method and records figures.
"""
