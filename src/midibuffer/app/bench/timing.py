"""The measuring machinery shared by every benchmark case: interleaved rounds, best-of, ratios."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Case",
    "CaseResult",
    "Target",
    "TargetResult",
    "check_targets",
    "format_report",
    "run_cases",
]

Timer = Callable[[int], float]
"""Runs *n* operations of one subject and returns the seconds they took (setup excluded)."""


@dataclass(frozen=True)
class Case:
    """One operation, timed for several subjects (midibuffer first, then its peers)."""

    name: str
    subjects: dict[str, Timer]


@dataclass(frozen=True)
class CaseResult:
    """Best nanoseconds per operation of each subject of a case."""

    case: str
    ns_per_op: dict[str, float]


@dataclass(frozen=True)
class Target:
    """A goal such as "midibuffer within 3x of deque": ``ratio`` is
    ``time(subject) / time(reference)`` and must be ``<= at_most``."""

    case: str
    subject: str
    reference: str
    at_most: float
    wording: str


@dataclass(frozen=True)
class TargetResult:
    target: Target
    ratio: float

    @property
    def met(self) -> bool:
        return self.ratio <= self.target.at_most


def run_cases(cases: Sequence[Case], *, ops: int, rounds: int) -> list[CaseResult]:
    """Time every subject of every case; *rounds* interleaved rounds of *ops* operations.

    Within a round the subjects run one after the other, so a burst of load
    from elsewhere hits them alike; the minimum over rounds is kept. The
    cyclic garbage collector is paused while timing, as in ``timeit``.
    """
    results = []
    for case in cases:
        best = dict.fromkeys(case.subjects, float("inf"))
        for _ in range(rounds):
            for subject, timer in case.subjects.items():
                gc.collect()
                gc.disable()
                try:
                    seconds = timer(ops)
                finally:
                    gc.enable()
                best[subject] = min(best[subject], seconds / ops * 1e9)
        results.append(CaseResult(case.name, best))
    return results


def check_targets(results: Sequence[CaseResult], targets: Sequence[Target]) -> list[TargetResult]:
    """Evaluate each target against the results of its case."""
    by_case = {result.case: result.ns_per_op for result in results}
    return [
        TargetResult(
            target, by_case[target.case][target.subject] / by_case[target.case][target.reference]
        )
        for target in targets
    ]


def format_report(results: Sequence[CaseResult], targets: Sequence[TargetResult]) -> str:
    """The table printed by ``midibuffer bench`` (Markdown, so it can be pasted)."""
    lines = ["| case | subject | ns/op | x midibuffer |", "|---|---|---:|---:|"]
    for result in results:
        ours = next(iter(result.ns_per_op.values()))
        for subject, ns in result.ns_per_op.items():
            lines.append(f"| {result.case} | {subject} | {ns:.1f} | {ns / ours:.2f} |")
    lines += ["", "| target | ratio | goal | met |", "|---|---:|---:|---|"]
    for outcome in targets:
        target = outcome.target
        lines.append(
            f"| {target.wording} | {outcome.ratio:.3f} | <= {target.at_most:g} | "
            f"{'yes' if outcome.met else 'NO'} |"
        )
    return "\n".join(lines)
