"""Audio output without a sound card: the same callback on a simulated real-time clock.

:class:`OfflineOutput` runs a :class:`~midibuffer.io.render.BlockRenderer`, the
very code an :class:`~midibuffer.io.audio.AudioOutput` runs in its sounddevice
callback, on a thread of its own that wakes once per block on an absolute
deadline grid, as a sound card would. So producers, sequencers and the
scheduler see the real timing. Unlike a sound card, it loses no audio when
it wakes late: it renders the late blocks back to back to catch up (and
skips ahead only when more than half a second behind). It records the rendered audio and can write
it to a 16-bit WAV file. It needs numpy (the ``audio`` extra), but neither
sounddevice nor PortAudio.

Users import it through ``midibuffer.offline``.
"""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path

import numpy as np
from typing_extensions import Unpack

from midibuffer.buffer.shared import AnyConsumer
from midibuffer.io.render import AudioBlock, Render, RenderingOutput
from midibuffer.io.settings import OutputOptions, OutputSettings

__all__ = ["OfflineOutput", "write_wav"]

_MAX_BEHIND = 0.5  # seconds behind the clock before the stream skips ahead instead


class OfflineOutput(RenderingOutput):
    """Renders audio in real time on a thread, without an audio device; records it.

    Takes the same arguments as :class:`~midibuffer.audio.AudioOutput` except
    *device* (the options of :class:`~midibuffer.audio.OutputSettings`), and
    has the same ``start``/``stop``/``close``/``stats`` and context manager.
    The rendered audio is kept in memory (``audio()``); :meth:`write_wav`
    saves it.

    An exception raised by *render* stops the thread; :meth:`close` raises it
    again in the calling thread.
    """

    def __init__(
        self, consumer: AnyConsumer, render: Render, **options: Unpack[OutputOptions]
    ) -> None:
        super().__init__(consumer, render, OutputSettings(**options))
        self._blocks: list[AudioBlock] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="midibuffer-offline", daemon=True)

    @property
    def frames(self) -> int:
        """Frames rendered so far."""
        return len(self._blocks) * self.settings.blocksize

    @property
    def active(self) -> bool:
        """Whether the rendering thread runs."""
        return self._thread.is_alive()

    def _start(self) -> None:
        self._thread.start()

    def wait(self, seconds: float) -> None:
        """Sleep *seconds* while rendering goes on (a convenience for scripts)."""
        self._stopping.wait(seconds)

    def _stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def audio(self) -> AudioBlock:
        """Everything rendered so far: a (frames x channels) float32 array."""
        if not self._blocks:
            return np.zeros((0, self.settings.channels), dtype=np.float32)
        return np.concatenate(self._blocks)

    def write_wav(self, path: str | Path) -> Path:
        """Write the rendered audio as a 16-bit PCM WAV file; return its path."""
        return write_wav(path, self.audio(), self.settings.samplerate)

    def _run(self) -> None:
        settings = self.settings
        period = settings.block_period
        deadline = time.perf_counter()
        while not self._stopping.is_set():
            block = np.zeros((settings.blocksize, settings.channels), dtype=np.float32)
            try:
                self.renderer.process(block, settings.blocksize)
            except BaseException as error:  # close() raises it in the user's thread
                self._fail(error)
                return
            self._blocks.append(block)
            deadline += period
            delay = deadline - time.perf_counter()
            if delay > 0:
                self._stopping.wait(delay)
            elif delay < -_MAX_BEHIND:  # hopelessly late (a suspended process): skip ahead
                deadline = time.perf_counter()
            # Otherwise catch up: no device loses the late blocks, so render
            # them back to back and keep the stream in step with the clock.


def write_wav(path: str | Path, audio: AudioBlock, samplerate: int) -> Path:
    """Write *audio* (frames x channels, float, clipped to -1..1) as a 16-bit PCM
    WAV file at *samplerate*; return its path. Any thread.

    Raises:
        OSError: the file cannot be written.
    """
    path = Path(path)
    samples = np.clip(audio, -1.0, 1.0)
    pcm = (samples * 32767).astype("<i2")
    with wave.open(str(path), "wb") as file:
        file.setnchannels(samples.shape[1])
        file.setsampwidth(2)
        file.setframerate(samplerate)
        file.writeframes(pcm.tobytes())
    return path
