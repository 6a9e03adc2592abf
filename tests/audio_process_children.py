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
