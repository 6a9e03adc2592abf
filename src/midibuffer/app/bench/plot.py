"""``--plot PNG``: the benchmark's figures as one picture (needs matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from midibuffer.app.bench.async_cases import AsyncResult
from midibuffer.app.bench.timing import CaseResult

__all__ = ["plot_results"]

_COLORS = ["tab:green", "tab:gray", "tab:orange", "tab:blue", "tab:red"]  # midibuffer first


def plot_results(
    buffer: Sequence[CaseResult], asynchronous: Sequence[AsyncResult], path: Path
) -> Path:
    """Draw ns/op per buffer case and the async consumer's cost per poll; save as PNG.

    Raises:
        ImportError: matplotlib is missing (``pip install 'midibuffer[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'midibuffer[plot]'") from None
    panels = [panel for panel in (buffer, asynchronous) if panel]
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    column = 0
    if buffer:
        ax = axes[0][column]
        subjects = list(buffer[0].ns_per_op)
        width = 0.8 / len(subjects)
        for index in range(len(subjects)):
            ax.bar(
                [case_index + index * width for case_index in range(len(buffer))],
                [list(case.ns_per_op.values())[index] for case in buffer],
                width,
                color=_COLORS[index],
                label=_family(subjects[index]),
            )
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(buffer))])
        ax.set_xticklabels([case.case for case in buffer])
        ax.set_yscale("log")
        ax.set_ylabel("ns per operation (log scale; lower is better)")
        ax.set_title("the buffer against its peers")
        ax.legend(fontsize=8, loc="upper left")
        column += 1
    if asynchronous:
        ax = axes[0][column]
        names = [_family(result.subject) for result in asynchronous]
        costs = [result.poll_cpu_us for result in asynchronous]
        ax.bar(names, costs, color=_COLORS[: len(names)])
        ax.set_yscale("log")
        ax.set_ylabel("consumer CPU per poll, µs (log scale)")
        ax.set_title("the audio side's cost per poll (1.33 ms period)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _family(subject: str) -> str:
    """``"Queue(256) put_nowait+get_nowait"`` -> ``"Queue"``."""
    return subject.split()[0].split(".")[0].split("(")[0]
