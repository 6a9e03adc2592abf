"""Load for tests and benchmarks: busy pure-Python threads that take turns with the GIL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["busy_threads"]


@contextmanager
def busy_threads(count: int = 2) -> Iterator[None]:
    """Run *count* pure-Python threads, spinning, while inside the ``with`` block.

    Each holds the GIL until the switch interval makes it let go, as a busy
    program's own work would. They stop and are joined on exit.
    """
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1_000))

    threads = [threading.Thread(target=spin, name=f"busy-{n}", daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()
