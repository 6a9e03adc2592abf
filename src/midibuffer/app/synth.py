"""A small polyphonic synthesizer for the demo and the examples (needs numpy).

:class:`PolySynth` is a render function for :class:`~midibuffer.io.audio.AudioOutput`
and :class:`~midibuffer.io.offline.OfflineOutput`: ``synth(outdata, events)``.
It plays each event on its exact sample: the block is rendered in segments
between event offsets.

Sound: additive voices (a fundamental and two overtones) with smooth
exponential envelopes. Every envelope starts from, and returns to, silence
without a jump, so notes never click. Per channel:

* channel 0: a soft pad; controller 74 (brightness) sets the overtones;
* channel 1: a round bass;
* any other channel: a bell-like lead.

Controller 7 sets the channel's volume, controller 123 releases every voice
of the channel (all notes off), and note-on with velocity 0 is a note-off.
Other messages are ignored. The stereo mix goes through a soft limiter
(``tanh``), so it never clips.

Real-time notes: all state lives in preallocated NumPy arrays. Rendering
makes temporary NumPy arrays, which are not tracked by the garbage collector,
and a few Python floats. With one source of events it creates no container
objects; merging several sources builds one small list per block.
"""

from __future__ import annotations

import math

import numpy as np

from midibuffer.adapters.scheduler import BlockEvents
from midibuffer.data.message import MidiMessage
from midibuffer.io.render import AudioBlock

__all__ = ["PolySynth"]

_ATTACK = 0.004  # seconds: the attack's time constant
_ATTACK_TIME = 0.015  # seconds in the attack stage before the decay
_DECAY = 0.25  # seconds: time constant towards the sustain level
_RELEASE = 0.08  # seconds: time constant towards silence
_SILENT = 1e-4  # a releasing voice below this is free again
_SUSTAIN = (0.7, 0.8, 0.25)  # pad, bass, lead
_OVERTONES = ((0.35, 0.12), (0.25, 0.05), (0.5, 0.3))  # 2nd and 3rd partial, per timbre
_PAN = (0.5, 0.5, 0.7)  # share of the right channel, per timbre

_OFF, _ATTACKING, _SUSTAINING, _RELEASING = 0, 1, 2, 3


def _offset_of(event: tuple[int, MidiMessage]) -> int:
    return event[0]


class PolySynth:
    """A polyphonic synthesizer that renders a block's MIDI events on their samples.

    Args:
        samplerate: the output's sample rate.
        voices: how many notes can sound at once; a new note beyond that
            takes over the quietest voice.
        gain: the overall level before the soft limiter.

    Call it from the audio thread only. It writes every channel of *outdata*:
    the mix goes to the first two channels, and any further channels are
    silenced.

    >>> import numpy as np
    >>> from midibuffer import MidiMessage, midi_buffer
    >>> from midibuffer.adapters.scheduler import BlockScheduler
    >>> producer, consumer = midi_buffer(8)
    >>> scheduler = BlockScheduler(consumer, 48_000)
    >>> synth = PolySynth(48_000)
    >>> block = np.zeros((64, 2), dtype=np.float32)
    >>> _ = producer.try_send(MidiMessage.note_on(0, 69, 100))
    >>> synth(block, scheduler.collect(64, now=0.0))
    >>> synth.active_voices, bool(np.abs(block).max() > 0)
    (1, True)
    """

    def __init__(self, samplerate: float, *, voices: int = 16, gain: float = 0.3) -> None:
        if not samplerate > 0:
            raise ValueError(f"samplerate must be positive, got {samplerate!r}")
        if isinstance(voices, bool) or not isinstance(voices, int) or voices < 1:
            raise ValueError(f"voices must be a positive int, got {voices!r}")
        self.samplerate = float(samplerate)
        self.gain = gain
        self._note = np.full(voices, -1, dtype=np.int16)
        self._channel = np.zeros(voices, dtype=np.int16)
        self._step = np.zeros(voices)  # phase increment per sample (radians)
        self._phase = np.zeros(voices)
        self._level = np.zeros(voices)  # envelope level
        self._velocity = np.zeros(voices)
        self._state = np.zeros(voices, dtype=np.int8)
        self._age = np.zeros(voices)  # seconds since note-on
        self._volume = np.ones(16)  # controller 7, per channel
        self._brightness = np.full(16, 0.5)  # controller 74, per channel
        self._attack = math.exp(-1 / (_ATTACK * self.samplerate))
        self._decay = math.exp(-1 / (_DECAY * self.samplerate))
        self._release = math.exp(-1 / (_RELEASE * self.samplerate))
        self._ramp = np.arange(1, 8193, dtype=np.float64)  # sample indices 1..n

    @property
    def active_voices(self) -> int:
        """How many voices are sounding (including releasing ones)."""
        return int(np.count_nonzero(self._state))

    def __call__(self, outdata: AudioBlock, events: BlockEvents, *more: BlockEvents) -> None:
        """Render one block: *outdata* (frames x channels) and its events.

        Events from several sources (*more*: for example a sequencer's and a
        live input's schedulers) are merged by offset; at equal offsets the
        earlier source goes first.
        """
        frames = len(outdata)
        outdata.fill(0)
        position = 0
        if more:
            merged = [
                (source.offsets[i], message)
                for source in (events, *more)
                for i, message in enumerate(source.messages[: source.count])
                if message is not None
            ]
            merged.sort(key=_offset_of)  # stable: equal offsets keep the sources' order
            for offset, message in merged:
                position = self._advance(outdata, position, offset, message)
        else:
            messages, offsets = events.messages, events.offsets
            for index in range(events.count):
                current = messages[index]
                if current is not None:
                    position = self._advance(outdata, position, offsets[index], current)
        if position < frames:
            self._render(outdata, position, frames)
        np.tanh(outdata[:, :2], out=outdata[:, :2])

    def _advance(
        self, outdata: AudioBlock, position: int, offset: int, message: MidiMessage
    ) -> int:
        """Render up to *offset*, then apply *message*; return the new position."""
        if offset > position:
            self._render(outdata, position, offset)
            position = offset
        self.handle(message)
        return position

    def handle(self, message: MidiMessage) -> None:
        """Apply one message now (note on/off, controllers); others are ignored."""
        kind = message.kind
        channel = message.channel
        if channel is None:
            return
        if kind == "note_on" and message.velocity:
            self._note_on(channel, message.note, message.velocity)
        elif kind in ("note_on", "note_off"):
            playing = (self._note == message.note) & (self._channel == channel)
            self._release_voices(playing & (self._state != _OFF))
        elif kind == "control_change":
            if message.control == 7:
                self._volume[channel] = message.value / 127
            elif message.control == 74:
                self._brightness[channel] = message.value / 127
            elif message.control == 123:
                self._release_voices((self._channel == channel) & (self._state != _OFF))

    def _note_on(self, channel: int, note: int, velocity: int) -> None:
        free = np.flatnonzero(self._state == _OFF)
        # No free voice: take over the quietest one; it restarts from its current level.
        voice = int(free[0]) if len(free) else int(np.argmin(self._level))
        self._note[voice] = note
        self._channel[voice] = channel
        self._step[voice] = 2 * math.pi * 440.0 * 2 ** ((note - 69) / 12) / self.samplerate
        self._velocity[voice] = (velocity / 127) ** 1.5
        self._state[voice] = _ATTACKING
        self._age[voice] = 0.0

    def _release_voices(self, voices: np.ndarray) -> None:
        self._state[voices] = _RELEASING

    def _render(self, outdata: AudioBlock, start: int, end: int) -> None:
        count = end - start
        if count > len(self._ramp):  # a block longer than any before: grow, once
            self._ramp = np.arange(1, count + 1, dtype=np.float64)
        ramp = self._ramp[:count]
        for voice in np.flatnonzero(self._state):
            self._render_voice(int(voice), outdata, start, ramp)

    def _render_voice(self, voice: int, outdata: AudioBlock, start: int, ramp: np.ndarray) -> None:
        count = len(ramp)
        state = self._state[voice]
        channel = int(self._channel[voice])
        timbre = channel if channel < 2 else 2
        level = self._level[voice]
        # The envelope approaches its target exponentially: continuous, no clicks.
        if state == _ATTACKING:
            target, factor = 1.0, self._attack
        elif state == _SUSTAINING:
            target, factor = _SUSTAIN[timbre], self._decay
        else:
            target, factor = 0.0, self._release
        envelope = target + (level - target) * factor**ramp
        self._level[voice] = envelope[-1]
        self._age[voice] += count / self.samplerate
        if state == _ATTACKING and self._age[voice] >= _ATTACK_TIME:
            self._state[voice] = _SUSTAINING
        elif state == _RELEASING and envelope[-1] < _SILENT:
            self._state[voice] = _OFF
            self._level[voice] = 0.0

        phase = self._phase[voice] + self._step[voice] * ramp
        self._phase[voice] = phase[-1] % (2 * math.pi)
        second, third = _OVERTONES[timbre]
        if timbre == 0:
            brightness = 2 * self._brightness[channel]
            second, third = second * brightness, third * brightness
        wave = np.sin(phase) + second * np.sin(2 * phase) + third * np.sin(3 * phase)
        amplitude = self.gain * self._velocity[voice] * self._volume[channel]
        signal = wave * envelope * amplitude
        end = start + count
        outdata[start:end, 0] += signal * (1 - _PAN[timbre])
        if outdata.shape[1] > 1:
            outdata[start:end, 1] += signal * _PAN[timbre]
