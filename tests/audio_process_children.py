"""Render factories for test_audio_process.py: built in the audio process (spawned)."""

from __future__ import annotations

from typing import Any

from midibuffer.scheduler import BlockEvents


class Boom(RuntimeError):
    pass


def silent(samplerate: int) -> Any:
    def render(outdata: Any, events: BlockEvents) -> None:
        outdata.fill(0)

    return render


def impulses(samplerate: int) -> Any:
    """A 0.5 sample at each event's offset on channel 0."""

    def render(outdata: Any, events: BlockEvents) -> None:
        outdata.fill(0)
        for index in range(events.count):
            outdata[events.offsets[index], 0] = 0.5

    return render


def failing_factory(samplerate: int) -> Any:
    raise Boom(f"no renderer at {samplerate} Hz")


def failing_render(samplerate: int) -> Any:
    def render(outdata: Any, events: BlockEvents) -> None:
        outdata.fill(0)
        if events.count:
            raise Boom("render failed in the audio process")

    return render


def _cannot_rebuild() -> Any:
    raise RuntimeError("this factory cannot be rebuilt in another process")


class Unloadable:
    """A render factory that pickles, but whose unpickling fails in the child."""

    def __call__(self, samplerate: int) -> Any:
        return silent(samplerate)

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_cannot_rebuild, ())


def recording(path: str, samplerate: int) -> Any:
    """Append each event (stream position in samples, then its bytes) to the file *path*,
    one line per event, flushed every block that had some (a test's render, not a real one)."""
    log = open(path, "a")  # noqa: SIM115 - it lives as long as the audio process
    position = 0

    def render(outdata: Any, events: BlockEvents) -> None:
        nonlocal position
        outdata.fill(0)
        for index in range(events.count):
            message = events.messages[index]
            assert message is not None
            log.write(f"{position + events.offsets[index]} {message.data.hex()}\n")
        if events.count:
            log.flush()
        position += len(outdata)

    return render
