"""``python -m midibuffer.bench``: run the benchmark cases and print the tables."""

from __future__ import annotations

import argparse
import platform
import sys

from midibuffer.bench import async_cases, buffer_cases
from midibuffer.bench.timing import check_targets, format_report, run_cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m midibuffer.bench",
        description="Time midibuffer against its peers in one run and print ratios.",
    )
    parser.add_argument(
        "--suite",
        choices=("buffer", "async", "all"),
        default="all",
        help="the buffer's ratio table, the async producer's table, or both (all)",
    )
    parser.add_argument("--ops", type=int, default=20_000, help="operations per round (20000)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (15)")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a target is not met"
    )
    args = parser.parse_args(argv)
    if args.ops < 1 or args.rounds < 1:
        parser.error("--ops and --rounds must be at least 1")

    print(f"# midibuffer benchmark: {platform.python_implementation()} {platform.python_version()}")
    met = True
    if args.suite in ("buffer", "all"):
        print(f"# best of {args.rounds} interleaved rounds of {args.ops} operations\n")
        results = run_cases(buffer_cases.CASES, ops=args.ops, rounds=args.rounds)
        targets = check_targets(results, buffer_cases.TARGETS)
        print(format_report(results, targets))
        met = all(t.met for t in targets)
    if args.suite in ("async", "all"):
        if args.suite == "all":
            print()
        print(async_cases.DESCRIPTION + "\n")
        async_results = async_cases.measure_async_cases()
        async_targets = async_cases.check_async_targets(async_results)
        print(async_cases.format_async_report(async_results, async_targets))
        met = met and all(t.met for t in async_targets)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
