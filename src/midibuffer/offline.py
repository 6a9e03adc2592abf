"""Audio output without a sound card: the same callback on a simulated real-time clock.

:class:`OfflineOutput` runs a :class:`~midibuffer.render.BlockRenderer`, the
very code an :class:`~midibuffer.audio.AudioOutput` runs in its sounddevice
callback, on a thread of its own that wakes once per block on an absolute
deadline grid, as a sound card would. So producers, sequencers and the
scheduler see the real timing. Unlike a sound card, it loses no audio when
it wakes late: it renders the late blocks back to back to catch up (and
skips ahead only when more than half a second behind). It records the rendered audio and can write
it to a 16-bit WAV file. It needs numpy (the ``audio`` extra), but neither
sounddevice nor PortAudio.

>>> from midibuffer import MidiMessage, midi_buffer
>>> from midibuffer.synth import PolySynth
>>> producer, consumer = midi_buffer(16)
>>> with OfflineOutput(consumer, PolySynth(48_000), samplerate=48_000) as output:
...     _ = producer.try_send(MidiMessage.note_on(0, 60, 100))
...     output.wait(0.05)
>>> output.frames >= 0.05 * 48_000, output.stats().events
(True, 1)
"""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path

import numpy as np

from midibuffer.buffer import MidiBufferConsumer
from midibuffer.errors import AudioBackendUnavailable, AudioDeviceNotFound
from midibuffer.render import AudioBlock, Render, RenderingOutput
from midibuffer.scheduler import Mode

__all__ = ["OfflineOutput", "open_output"]

_MAX_BEHIND = 0.5  # seconds behind the clock before the stream skips ahead instead


class OfflineOutput(RenderingOutput):
    """Renders audio in real time on a thread, without an audio device; records it.

    Takes the same arguments as :class:`~midibuffer.audio.AudioOutput` (except
    *device*) and has the same ``start``/``stop``/``close``/``stats`` and
    context manager. The rendered audio is kept in memory (``audio()``);
    :meth:`write_wav` saves it.

    An exception raised by *render* stops the thread; :meth:`close` raises it
    again in the calling thread.
    """

    def __init__(
        self,
        consumer: MidiBufferConsumer,
        render: Render,
        *,
        samplerate: int = 48_000,
        blocksize: int = 64,
        channels: int = 2,
        mode: Mode = "timed",
        max_events: int = 256,
        realtime: bool = False,
    ) -> None:
        if blocksize < 1 or channels < 1:
            raise ValueError("blocksize and channels must be positive")
        super().__init__(
            consumer,
            render,
            samplerate=samplerate,
            blocksize=blocksize,
            mode=mode,
            max_events=max_events,
            realtime=realtime,
        )
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.channels = channels
        self._blocks: list[AudioBlock] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="midibuffer-offline", daemon=True)

    @property
    def frames(self) -> int:
        """Frames rendered so far."""
        return len(self._blocks) * self.blocksize

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
            return np.zeros((0, self.channels), dtype=np.float32)
        return np.concatenate(self._blocks)

    def write_wav(self, path: str | Path) -> Path:
        """Write the rendered audio as a 16-bit PCM WAV file; return its path."""
        path = Path(path)
        samples = np.clip(self.audio(), -1.0, 1.0)
        pcm = (samples * 32767).astype("<i2")
        with wave.open(str(path), "wb") as file:
            file.setnchannels(self.channels)
            file.setsampwidth(2)
            file.setframerate(self.samplerate)
            file.writeframes(pcm.tobytes())
        return path

    def _run(self) -> None:
        period = self.blocksize / self.samplerate
        deadline = time.perf_counter()
        while not self._stopping.is_set():
            block = np.zeros((self.blocksize, self.channels), dtype=np.float32)
            try:
                self.renderer.process(block, self.blocksize)
            except BaseException as error:  # close() raises it in the user's thread
                self._error = error
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


def open_output(
    consumer: MidiBufferConsumer,
    render: Render,
    *,
    offline: bool = False,
    device: int | str | None = None,
    samplerate: int = 48_000,
    blocksize: int = 64,
    channels: int = 2,
    mode: Mode = "timed",
    max_events: int = 256,
    realtime: bool = False,
) -> tuple[RenderingOutput, str | None]:
    """An :class:`~midibuffer.audio.AudioOutput` if a device works, else an :class:`OfflineOutput`.

    Returns the output (not started) and, for an offline one, why no device
    is used: ``"offline rendering was asked for"`` when *offline* is true,
    else the first sentence of the error that opening the device raised
    (no PortAudio library, no device, ...). The reason is ``None`` when a
    device plays. The other arguments are those of ``AudioOutput``.

    >>> from midibuffer import midi_buffer
    >>> from midibuffer.synth import PolySynth
    >>> _producer, consumer = midi_buffer(16)
    >>> output, reason = open_output(consumer, PolySynth(48_000), offline=True)
    >>> type(output).__name__, reason
    ('OfflineOutput', 'offline rendering was asked for')
    """
    settings = {"samplerate": samplerate, "blocksize": blocksize, "channels": channels}
    reason = "offline rendering was asked for"
    if not offline:
        from midibuffer.audio import AudioOutput

        try:
            return AudioOutput(
                consumer,
                render,
                device=device,
                mode=mode,
                max_events=max_events,
                realtime=realtime,
                **settings,
            ), None
        except (AudioBackendUnavailable, AudioDeviceNotFound) as error:
            reason = str(error).split(". ")[0]
    output = OfflineOutput(
        consumer, render, mode=mode, max_events=max_events, realtime=realtime, **settings
    )
    return output, reason
