"""Audio output with sounddevice: :class:`AudioOutput` and the device list.

Importing this module does not import sounddevice; opening a stream or
listing devices does, and raises
:class:`~midibuffer.errors.AudioBackendUnavailable` with the fix if it
cannot. Users import it through ``midibuffer.audio``, whose documentation
shows the pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from typing_extensions import Unpack

from midibuffer.buffer.shared import AnyConsumer
from midibuffer.errors import AudioBackendUnavailable, AudioDeviceNotFound
from midibuffer.io.render import AudioBlock, Render, RenderingOutput
from midibuffer.io.settings import OutputOptions, OutputSettings

__all__ = ["AudioDevice", "AudioOutput", "import_sounddevice", "output_devices"]


def import_sounddevice() -> ModuleType:
    """Import sounddevice, or raise AudioBackendUnavailable saying how to get it."""
    try:
        import sounddevice
    except ImportError:
        raise AudioBackendUnavailable(
            "audio output needs sounddevice and numpy: pip install 'midibuffer[audio]'"
        ) from None
    except OSError as error:  # the wheel is there, the PortAudio library is not
        raise AudioBackendUnavailable(
            f"the PortAudio library is missing ({error}); sounddevice's Linux wheels do not "
            "include it: install it with 'apt install libportaudio2' (Debian/Ubuntu)"
        ) from None
    module: ModuleType = sounddevice
    return module


@dataclass(frozen=True, slots=True)
class AudioDevice:
    """An output device as PortAudio lists it."""

    index: int
    name: str
    host_api: str
    channels: int
    default_samplerate: float
    is_default: bool


def output_devices() -> list[AudioDevice]:
    """Every audio output device, per host API, the default one flagged.

    Raises:
        AudioBackendUnavailable: sounddevice or PortAudio is missing.
    """
    sd = import_sounddevice()
    host_apis = sd.query_hostapis()
    default_output = sd.default.device[1]
    return [
        AudioDevice(
            index=index,
            name=device["name"],
            host_api=host_apis[device["hostapi"]]["name"],
            channels=device["max_output_channels"],
            default_samplerate=device["default_samplerate"],
            is_default=index == default_output,
        )
        for index, device in enumerate(sd.query_devices())
        if device["max_output_channels"] > 0
    ]


class AudioOutput(RenderingOutput):
    """A sounddevice output stream whose callback renders MIDI from a buffer.

    Args:
        consumer: the consumer end of a :func:`~midibuffer.midi_buffer`; from
            now on it belongs to the audio callback.
        render: ``render(outdata, events)``, called in the callback with the
            block to fill and its :class:`~midibuffer.adapters.scheduler.BlockEvents`.
            It must follow the callback's rules: no blocking, no I/O.
        device: the output device (index or name), as for
            ``sounddevice.OutputStream``; ``None`` for the default one.
        options: ``samplerate``, ``blocksize``, ``channels``, ``mode``,
            ``max_events``, ``realtime``: see :class:`OutputSettings`.

    Raises:
        TypeError, ValueError: a bad option (see :class:`OutputSettings`).
        AudioBackendUnavailable: sounddevice or PortAudio is missing.
        AudioDeviceNotFound: PortAudio has no such output device (or none),
            or refused the settings; the message lists the devices.

    An exception raised by *render* stops the stream; :meth:`close`, the
    ``with`` block's exit, and :meth:`raise_if_failed` raise it again in the
    calling thread.
    """

    def __init__(
        self,
        consumer: AnyConsumer,
        render: Render,
        *,
        device: int | str | None = None,
        **options: Unpack[OutputOptions],
    ) -> None:
        settings = OutputSettings(**options)
        sd = import_sounddevice()
        super().__init__(consumer, render, settings)
        self._abort = sd.CallbackAbort
        try:
            self._stream = sd.OutputStream(
                samplerate=settings.samplerate,
                blocksize=settings.blocksize,
                channels=settings.channels,
                dtype="float32",
                device=device,
                callback=self._callback,
            )
        except (sd.PortAudioError, ValueError) as error:
            raise AudioDeviceNotFound(_no_device_message(error, device)) from None

    @property
    def device_name(self) -> str:
        """The name of the output device the stream plays on."""
        sd = import_sounddevice()
        name: str = sd.query_devices(self._stream.device)["name"]
        return name

    @property
    def samplerate(self) -> float:
        """The stream's sample rate."""
        return float(self._stream.samplerate)

    @property
    def blocksize(self) -> int:
        """Frames per callback."""
        return int(self._stream.blocksize)

    @property
    def active(self) -> bool:
        """Whether the stream is running."""
        return bool(self._stream.active)

    def _start(self) -> None:
        self._stream.start()

    def _stop(self) -> None:
        self._stream.stop()

    def _close_device(self) -> None:
        self._stream.close()

    def _callback(self, outdata: AudioBlock, frames: int, time_info: Any, status: Any) -> None:
        try:
            self.renderer.process(outdata, frames, status.output_underflow)
        except BaseException as error:  # stop cleanly; close() raises it in the user's thread
            self._fail(error)
            outdata.fill(0)
            raise self._abort from None


def _no_device_message(error: Exception, device: int | str | None) -> str:
    try:
        devices = output_devices()
    except AudioBackendUnavailable:  # pragma: no cover - sounddevice imported fine above
        devices = []
    listing = "; ".join(f"{d.index}: {d.name} ({d.host_api})" for d in devices) or "none"
    wanted = "the default output device" if device is None else f"output device {device!r}"
    return (
        f"cannot open {wanted}: {error}. Output devices: {listing}. On a machine without "
        "a sound card, start a JACK server (jackd -d dummy) or render to a WAV file "
        "(midibuffer demo --output FILE)."
    )
