"""Specification of MidiParser: the MIDI 1.0 stream rules, resynchronisation and counters."""

from __future__ import annotations

import dataclasses
import itertools
import math

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midibuffer import InvalidMidiMessage, MidiMessage, MidiParser
from midibuffer.data.message import MAX_SYSEX_BYTES
from midibuffer.data.parser import ParserStats


def parse(*chunks: bytes) -> tuple[list[bytes], ParserStats]:
    """Feed *chunks* to a new parser; return the data of the messages found and the stats."""
    parser = MidiParser()
    found = [message.data for chunk in chunks for message in parser.feed(chunk)]
    return found, parser.stats()


def counters(stats: ParserStats) -> tuple[int, int, int]:
    return stats.skipped_bytes, stats.truncated_messages, stats.oversized_sysex


CLEAN = (0, 0, 0)

# --- messages -----------------------------------------------------------------------------


def test_complete_messages_in_one_feed_come_out_in_order() -> None:
    found, stats = parse(b"\x90\x3c\x64\xc0\x05\xf8\xe0\x00\x40")
    assert found == [b"\x90\x3c\x64", b"\xc0\x05", b"\xf8", b"\xe0\x00\x40"]
    assert counters(stats) == CLEAN


def test_a_message_split_across_feeds_comes_out_when_complete() -> None:
    parser = MidiParser()
    assert [parser.feed(b"\x90"), parser.feed(b"\x3c")] == [[], []]
    assert parser.feed(b"\x64") == [MidiMessage(b"\x90\x3c\x64")]


def test_a_sysex_split_across_feeds_comes_out_whole() -> None:
    assert parse(b"\xf0\x01", b"\x02", b"\x03\xf7")[0] == [b"\xf0\x01\x02\x03\xf7"]


def test_an_empty_sysex_is_a_message() -> None:
    assert parse(b"\xf0\xf7")[0] == [b"\xf0\xf7"]


def test_tune_request_is_a_message() -> None:
    assert parse(b"\xf6")[0] == [b"\xf6"]


@pytest.mark.parametrize(
    "data",
    [b"\x90\x3c\x64", bytearray(b"\x90\x3c\x64"), memoryview(b"\x90\x3c\x64"), [0x90, 60, 100]],
    ids=["bytes", "bytearray", "memoryview", "list"],
)
def test_feed_takes_bytes_like_and_iterables_of_ints(data: bytes) -> None:
    assert MidiParser().feed(data) == [MidiMessage(b"\x90\x3c\x64")]


def test_feed_takes_a_generator() -> None:
    assert MidiParser().feed(iter([0xFA])) == [MidiMessage.start()]


# --- running status -----------------------------------------------------------------------


def test_running_status_repeats_the_last_channel_status() -> None:
    found, stats = parse(b"\x90\x3c\x64\x3e\x64\x40\x00")
    assert found == [b"\x90\x3c\x64", b"\x90\x3e\x64", b"\x90\x40\x00"]
    assert counters(stats) == CLEAN


def test_running_status_works_for_two_byte_messages() -> None:
    assert parse(b"\xc1\x05\x06")[0] == [b"\xc1\x05", b"\xc1\x06"]


def test_running_status_continues_across_feeds() -> None:
    assert parse(b"\xb0\x07\x64", b"\x07", b"\x65")[0] == [b"\xb0\x07\x64", b"\xb0\x07\x65"]


def test_real_time_bytes_keep_running_status() -> None:
    found, stats = parse(b"\x90\x3c\x64\xf8\x3e\x64")
    assert found == [b"\x90\x3c\x64", b"\xf8", b"\x90\x3e\x64"]
    assert counters(stats) == CLEAN


@pytest.mark.parametrize(
    ("between", "message"),
    [
        (b"\xf3\x01", [b"\xf3\x01"]),  # system common
        (b"\xf6", [b"\xf6"]),  # tune request
        (b"\xf0\x01\xf7", [b"\xf0\x01\xf7"]),  # sysex
    ],
    ids=["song_select", "tune_request", "sysex"],
)
def test_system_common_messages_cancel_running_status(between: bytes, message: list[bytes]) -> None:
    found, stats = parse(b"\x90\x3c\x64" + between + b"\x3e\x64")
    assert found == [b"\x90\x3c\x64", *message]
    assert counters(stats) == (2, 0, 0)  # 3E 64 have no status to apply to


@pytest.mark.parametrize("undefined", [b"\xf4", b"\xf5", b"\xf7"])
def test_undefined_system_common_bytes_cancel_running_status(undefined: bytes) -> None:
    found, stats = parse(b"\x90\x3c\x64" + undefined + b"\x3e\x64")
    assert found == [b"\x90\x3c\x64"]
    assert counters(stats) == (3, 0, 0)  # the undefined byte, then 3E 64


# --- real-time bytes ----------------------------------------------------------------------


def test_real_time_bytes_inside_a_channel_message_come_out_first() -> None:
    found, stats = parse(b"\x90\x3c\xf8\x64")
    assert found == [b"\xf8", b"\x90\x3c\x64"]
    assert counters(stats) == CLEAN


def test_real_time_bytes_inside_a_sysex_come_out_first() -> None:
    found, stats = parse(b"\xf0\x01\xfa\x02\xfc\xf7")
    assert found == [b"\xfa", b"\xfc", b"\xf0\x01\x02\xf7"]
    assert counters(stats) == CLEAN


@pytest.mark.parametrize("undefined", [b"\xf9", b"\xfd"])
def test_undefined_real_time_bytes_are_skipped_without_interrupting(undefined: bytes) -> None:
    found, stats = parse(b"\x90\x3c" + undefined + b"\x64")
    assert found == [b"\x90\x3c\x64"]
    assert counters(stats) == (1, 0, 0)


# --- garbage ------------------------------------------------------------------------------


def test_data_bytes_without_a_status_are_skipped_and_counted() -> None:
    found, stats = parse(b"\x3c\x64\x00\x90\x3c\x64")
    assert found == [b"\x90\x3c\x64"]
    assert counters(stats) == (3, 0, 0)


def test_a_status_byte_truncates_the_message_in_progress() -> None:
    found, stats = parse(b"\x90\x3c\x80\x3c\x00")
    assert found == [b"\x80\x3c\x00"]
    assert counters(stats) == (0, 1, 0)


def test_a_status_byte_truncates_a_sysex_in_progress() -> None:
    found, stats = parse(b"\xf0\x01\x02\x90\x3c\x64")
    assert found == [b"\x90\x3c\x64"]
    assert counters(stats) == (0, 1, 0)


def test_a_truncated_message_split_across_feeds_is_counted() -> None:
    assert counters(parse(b"\xe0\x00", b"\xf0")[1]) == (0, 1, 0)


def test_a_stray_end_of_sysex_is_skipped() -> None:
    found, stats = parse(b"\xf7\xf8")
    assert found == [b"\xf8"]
    assert counters(stats) == (1, 0, 0)


def test_parsing_resumes_at_the_next_status_byte() -> None:
    found, _ = parse(b"\x01\xf4\x90\x3c\xf5\x02\x03\xb0\x07\x64")
    assert found == [b"\xb0\x07\x64"]


# --- the SysEx size limit -----------------------------------------------------------------


def test_a_sysex_of_max_sysex_bytes_comes_out() -> None:
    sysex = b"\xf0" + bytes(MAX_SYSEX_BYTES - 2) + b"\xf7"
    found, stats = parse(sysex)
    assert found == [sysex]
    assert counters(stats) == CLEAN


def test_a_longer_sysex_is_discarded_and_counted_once() -> None:
    found, stats = parse(b"\xf0" + bytes(MAX_SYSEX_BYTES - 1) + b"\xf7\xfa")
    assert found == [b"\xfa"]
    assert counters(stats) == (0, 0, 1)


def test_real_time_bytes_inside_a_discarded_sysex_still_come_out() -> None:
    found, _ = parse(b"\xf0" + bytes(MAX_SYSEX_BYTES), b"\x00\xf8\x00\xf7")
    assert found == [b"\xf8"]


def test_a_discarded_sysex_ended_by_a_status_byte_is_not_also_truncated() -> None:
    found, stats = parse(b"\xf0" + bytes(MAX_SYSEX_BYTES), b"\x90\x3c\x64")
    assert found == [b"\x90\x3c\x64"]
    assert counters(stats) == (0, 0, 1)


# --- time ---------------------------------------------------------------------------------


def test_messages_have_no_time_by_default() -> None:
    assert MidiParser().feed(b"\xf8")[0].time is None


def test_time_stamps_every_message_of_the_call() -> None:
    found = MidiParser().feed(b"\xf8\x90\x3c\x64", time=2.5)
    assert [message.time for message in found] == [2.5, 2.5]


def test_a_split_message_has_the_time_of_the_call_that_completes_it() -> None:
    parser = MidiParser()
    parser.feed(b"\x90\x3c", time=1.0)
    assert parser.feed(b"\x64", time=2.0)[0].time == 2.0


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "time", "error"),
    [
        ("903c64", None, TypeError),
        (None, None, TypeError),
        ([0x90, 1.5], None, TypeError),
        ([0x90, 256], None, InvalidMidiMessage),
        (b"\x64", "now", TypeError),
        (b"\x64", math.nan, ValueError),
    ],
)
def test_bad_arguments_raise_and_leave_the_parser_unchanged(
    data: object, time: object, error: type[Exception]
) -> None:
    parser = MidiParser()
    parser.feed(b"\x90\x3c\x64")
    with pytest.raises(error):
        parser.feed(data, time)  # type: ignore[arg-type]
    assert parser.feed(b"\x64\x40") == [MidiMessage(b"\x90\x64\x40")]  # running status kept
    assert parser.stats() == ParserStats(2, 0, 0, 0)


# --- stats and reset ----------------------------------------------------------------------


def test_a_new_parser_has_zero_counters() -> None:
    assert MidiParser().stats() == ParserStats(0, 0, 0, 0)


def test_messages_counts_every_message_returned() -> None:
    assert parse(b"\x90\x3c\x64\x3e\x64", b"\xf8")[1].messages == 3


def test_stats_is_a_frozen_snapshot() -> None:
    parser = MidiParser()
    stats = parser.stats()
    parser.feed(b"\xf8")
    assert stats.messages == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.messages = 1  # type: ignore[misc]


def test_reset_forgets_the_message_in_progress_without_counting_it() -> None:
    parser = MidiParser()
    parser.feed(b"\xf0\x01")
    parser.reset()
    assert parser.feed(b"\x02\xf7") == []
    assert counters(parser.stats()) == (2, 0, 0)  # the 02 and the stray F7


def test_reset_forgets_running_status() -> None:
    parser = MidiParser()
    parser.feed(b"\x90\x3c\x64")
    parser.reset()
    assert parser.feed(b"\x3e\x64") == []


def test_reset_keeps_the_counters() -> None:
    parser = MidiParser()
    parser.feed(b"\x00\xf8")
    parser.reset()
    assert parser.stats() == ParserStats(1, 1, 0, 0)


def test_repr_shows_the_counters() -> None:
    assert repr(MidiParser()) == (
        "<MidiParser ParserStats(messages=0, skipped_bytes=0, truncated_messages=0,"
        " oversized_sysex=0)>"
    )


# --- properties ---------------------------------------------------------------------------

data7 = st.integers(0, 127)
channels = st.integers(0, 15)
valid_messages = st.one_of(
    st.builds(MidiMessage.note_off, channels, data7, data7),
    st.builds(MidiMessage.note_on, channels, data7, data7),
    st.builds(MidiMessage.polytouch, channels, data7, data7),
    st.builds(MidiMessage.control_change, channels, data7, data7),
    st.builds(MidiMessage.program_change, channels, data7),
    st.builds(MidiMessage.aftertouch, channels, data7),
    st.builds(MidiMessage.pitchwheel, channels, st.integers(-8192, 8191)),
    st.builds(MidiMessage.sysex, st.lists(data7, max_size=12)),
    st.builds(MidiMessage.quarter_frame, st.integers(0, 7), st.integers(0, 15)),
    st.builds(MidiMessage.songpos, st.integers(0, 16383)),
    st.builds(MidiMessage.song_select, data7),
    st.sampled_from([0xF6, 0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF]).map(lambda s: MidiMessage([s])),
)
real_time_bytes = st.sampled_from([0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF])


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut *data* at the positions *cuts*, giving possibly empty chunks."""
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def serialize(messages: list[tuple[MidiMessage, bool]]) -> list[tuple[int, MidiMessage | None]]:
    """The bytes of *messages*, each paired with the message it completes, if any.

    A channel message paired with ``True`` leaves out its status byte when
    running status allows it.
    """
    stream: list[tuple[int, MidiMessage | None]] = []
    running = 0
    for message, use_running_status in messages:
        data = message.data
        if use_running_status and data[0] == running:
            data = data[1:]
        stream.extend((byte, None) for byte in data[:-1])
        stream.append((data[-1], message))
        if not message.is_realtime:
            running = message.status if message.channel is not None else 0
    return stream


@settings(max_examples=300)
@given(
    st.lists(st.tuples(valid_messages, st.booleans()), max_size=20),
    st.lists(st.tuples(st.integers(0, 200), real_time_bytes), max_size=6),
    st.lists(st.integers(0, 500), max_size=8),
)
def test_valid_streams_round_trip_exactly(
    messages: list[tuple[MidiMessage, bool]],
    real_time: list[tuple[int, int]],
    cuts: list[int],
) -> None:
    stream = serialize(messages)
    for position, byte in real_time:  # sprinkled anywhere, even inside messages
        stream.insert(position % (len(stream) + 1), (byte, MidiMessage([byte])))
    expected = [message for _, message in stream if message is not None]
    parser = MidiParser()
    found = [m for chunk in split(bytes(b for b, _ in stream), cuts) for m in parser.feed(chunk)]
    assert found == expected
    assert counters(parser.stats()) == CLEAN


@settings(max_examples=300)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=8))
def test_any_byte_soup_gives_only_valid_messages(soup: bytes, cuts: list[int]) -> None:
    parser = MidiParser()
    for chunk in split(soup, cuts):
        for message in parser.feed(chunk):  # never raises
            assert MidiMessage(message.data) == message  # revalidated: valid by construction


@given(st.lists(valid_messages, max_size=20))
def test_agrees_with_mido_parser_on_streams_without_running_status(
    messages: list[MidiMessage],
) -> None:
    stream = b"".join(message.data for message in messages)
    expected = [MidiMessage.from_mido(message) for message in mido.Parser(stream)]
    assert MidiParser().feed(stream) == expected
