"""``midibuffer bench``: run the benchmark cases and print the tables."""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

from midibuffer.app.bench import async_cases, buffer_cases
from midibuffer.app.bench.timing import CaseResult, check_targets, format_report, run_cases
from midibuffer.buffer.ends import CORE


def run_gil_suite(*, seconds: float, jack: bool, required: bool) -> str:
    """The GIL scenario's table, or one line saying why it could not run."""
    from midibuffer.app.bench import gil_cases
    from midibuffer.errors import AudioBackendUnavailable, AudioDeviceNotFound
    from midibuffer.testing.jackd import JackServer

    header = (
        f"# GIL scenario: {gil_cases.STEP * 1e3:g} ms pure-Python steps in an asyncio task, "
        f"{gil_cases.BLOCKSIZE} frames at {gil_cases.SAMPLERATE} Hz, {seconds:g} s per mode\n"
    )
    try:
        server = JackServer.start() if jack else None
        try:
            results = [
                gil_cases.measure_gil_scenario(realtime=realtime, seconds=seconds)
                for realtime in (False, True)
            ]
            placements = (
                gil_cases.measure_placements(seconds) if CORE == "c" else []
            )  # AudioProcess needs the shared ring's C core
        finally:
            if server is not None:
                server.stop()
    except (AudioBackendUnavailable, AudioDeviceNotFound) as error:
        if required:
            raise SystemExit(f"GIL scenario: {error}") from None
        return f"# GIL scenario skipped: {error} (try --jack)"
    table = header + gil_cases.format_gil_report(results)
    if placements:
        table += (
            f"\n\n# where the callback lives: busy pure-Python threads in this process, "
            f"{seconds:g} s each\n\n" + gil_cases.format_placement_report(placements)
        )
    return table


def run_input_suite(*, jack: bool, runs: int) -> str:
    """The MIDI input table (rtmidi's callback against polling), or why it could not run."""
    from midibuffer.app.bench import input_cases
    from midibuffer.errors import MidiBackendUnavailable
    from midibuffer.testing.jackd import JackServer

    header = (
        f"# MIDI input over JACK: {runs} runs of {input_cases.MESSAGES} messages per row, "
        "sender in an idle process, consumer popping a shared ring in another one\n\n"
    )
    try:
        server = JackServer.start() if jack else None
        try:
            results = input_cases.measure_input_runs(runs)
            costs = input_cases.measure_idle_costs()
            stalls = input_cases.measure_jack_stalls(server.process.pid, runs) if server else []
        finally:
            if server is not None:
                server.stop()
    except (MidiBackendUnavailable, ImportError) as error:
        raise SystemExit(f"MIDI input suite: {error}") from None
    report = header + input_cases.format_input_report(results, costs)
    if not stalls:
        return report + "\n\n(JACK stalls: measured only with --jack, on a server of its own)"
    return (
        f"{report}\n\n# JACK itself, stalled: {runs} runs of {input_cases.MESSAGES} messages "
        f"per row, {input_cases.WITNESSES} plain rtmidi clients taking the same port\n\n"
        + input_cases.format_stall_report(stalls)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="midibuffer bench",
        description="Time midibuffer against its peers in one run and print ratios.",
    )
    parser.add_argument(
        "--suite",
        choices=("buffer", "async", "async-consumer", "gil", "shared", "midi-input", "all"),
        default="all",
        help="the buffer's ratio table, the async producer's table, the GIL scenario "
        "(needs an audio device or --jack), the shared ring across processes, MIDI input "
        "through JACK (needs --jack or a running JACK server; not part of all), or all "
        "of the others (all; gil is skipped without a device)",
    )
    parser.add_argument(
        "--jack",
        action="store_true",
        help="for the GIL scenario and MIDI input, start a private JACK server (dummy driver)",
    )
    parser.add_argument(
        "--runs", type=int, default=10, help="MIDI input runs per mode and load (10)"
    )
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="GIL scenario duration per mode (4)"
    )
    parser.add_argument("--plot", metavar="PNG", help="also draw the figures (matplotlib)")
    parser.add_argument("--ops", type=int, default=20_000, help="operations per round (20000)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (15)")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a target is not met"
    )
    args = parser.parse_args(argv)
    if args.ops < 1 or args.rounds < 1 or args.runs < 1:
        parser.error("--ops, --rounds and --runs must be at least 1")

    print(
        f"# midibuffer benchmark: {platform.python_implementation()} "
        f"{platform.python_version()}, {CORE} core"
    )
    met = True
    results: list[CaseResult] = []
    async_results: list[async_cases.AsyncResult] = []
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
    if args.suite in ("async-consumer", "all"):
        from midibuffer.app.bench import receive_cases

        print(("\n" if args.suite == "all" else "") + receive_cases.DESCRIPTION + "\n")
        receive_results = receive_cases.measure_receive_cases()
        receive_targets = receive_cases.check_receive_targets(receive_results)
        print(receive_cases.format_receive_report(receive_results, receive_targets))
        met = met and all(t.met for t in receive_targets)
    if args.suite in ("shared", "all") and CORE == "c":
        from midibuffer.app.bench import shared_cases

        print(f"\n# shared ring: best of {args.rounds} rounds of {args.ops} pairs\n")
        pairs = run_cases(shared_cases.CASES, ops=args.ops, rounds=args.rounds)
        pair_targets = check_targets(pairs, shared_cases.TARGETS)
        print(format_report(pairs, pair_targets))
        cross = shared_cases.measure_cross_process()
        print()
        print(shared_cases.format_cross_report(cross))
        met = met and all(t.met for t in pair_targets) and shared_cases.cross_targets_met(cross)
    if args.suite in ("gil", "all"):
        print()
        print(run_gil_suite(seconds=args.seconds, jack=args.jack, required=args.suite == "gil"))
    if args.suite == "midi-input":
        print(run_input_suite(jack=args.jack, runs=args.runs))
    if args.plot:
        from midibuffer.app.bench.plot import plot_results

        print(f"\n# plot: {plot_results(results, async_results, Path(args.plot))}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
