"""How numbered messages arrived: which of them came intact and in order.

Used by the tests and the MIDI input benchmark to judge a stream of numbered
messages sent through JACK, where a copy, a reordering or a garbled message
must not hide the messages around it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

__all__ = ["in_order"]


def in_order(numbers: Sequence[int], expected: int | None = None) -> list[int]:
    """Indices into *numbers* of a longest strictly increasing subsequence: the most
    messages that can have arrived intact and in order. With *expected*, numbers
    outside ``0 .. expected - 1`` (garbled) are never part of it.

    >>> in_order([0, 1, 5, 2, 3, 4])
    [0, 1, 3, 4, 5]
    >>> in_order([0, 900, 1, 2], expected=3)
    [0, 2, 3]
    """
    tails: list[int] = []  # tails[n]: the smallest last value of an increasing run of n + 1
    tail_index: list[int] = []
    previous = [-1] * len(numbers)
    for index, number in enumerate(numbers):
        if expected is not None and not 0 <= number < expected:
            continue
        length = bisect.bisect_left(tails, number)
        if length == len(tails):
            tails.append(number)
            tail_index.append(index)
        else:
            tails[length] = number
            tail_index[length] = index
        previous[index] = tail_index[length - 1] if length else -1
    chain: list[int] = []
    index = tail_index[-1] if tail_index else -1
    while index >= 0:
        chain.append(index)
        index = previous[index]
    return chain[::-1]
