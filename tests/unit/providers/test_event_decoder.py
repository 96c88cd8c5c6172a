"""The upstream event-stream decoder: what each provider's stream decodes to, and that how the bytes
were cut into chunks on the wire never changes it."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.providers.sse import EventDecoder

# (the stream's bytes, the events it holds)
CASES: list[tuple[bytes, list[tuple[str, str]]]] = [
    (b'data: {"a":1}\n\ndata: [DONE]\n\n', [("message", '{"a":1}'), ("message", "[DONE]")]),
    # Anthropic names its events
    (
        b'event: message_start\ndata: {"type":"message_start"}\n\nevent: ping\ndata: {}\n\n',
        [("message_start", '{"type":"message_start"}'), ("ping", "{}")],
    ),
    # Gemini's alt=sse ends lines with CRLF
    (b'data: {"candidates":[]}\r\n\r\n', [("message", '{"candidates":[]}')]),
    # a lone CR ends a line too
    (b"data: x\r\rdata: y\r\r", [("message", "x"), ("message", "y")]),
    # several data lines are one event's data, joined by LF; no space after the colon is kept as is
    (b"data: one\ndata:two\n\n", [("message", "one\ntwo")]),
    # comments (keep-alives), id and retry are not events
    (b": keep-alive\n\nid: 7\nretry: 100\ndata: x\n\n", [("message", "x")]),
    # an event name with no data is not dispatched, and does not name the next event
    (b"event: ping\n\ndata: x\n\n", [("message", "x")]),
    # a byte-order mark at the start is not part of the first field
    (b"\xef\xbb\xbfdata: x\n\n", [("message", "x")]),
    # an event the stream ended before its blank line is dropped
    (b"data: x\n\ndata: cut", [("message", "x")]),
    # UTF-8 text comes through whole
    ("data: 你好 🌍\n\n".encode(), [("message", "你好 🌍")]),
    # CRLF then a blank line (the LF of the CRLF may arrive alone, then the blank line's LF)
    (b"data: 1\r\n\ndata: 2\n\n", [("message", "1"), ("message", "2")]),
    # two empty data lines are data: one LF
    (b"data:\ndata:\n\ndata: x\n\n", [("message", "\n"), ("message", "x")]),
    # a field without a colon is a field name with empty value; unknown fields are ignored
    (b"data\nfoo: bar\ndata: y\n\n", [("message", "\ny")]),
]


def decode(chunks: list[bytes]) -> list[tuple[str, str]]:
    decoder = EventDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


@pytest.mark.parametrize(("stream", "events"), CASES)
def test_a_stream_decodes_to_its_events(stream: bytes, events: list[tuple[str, str]]) -> None:
    assert decode([stream]) == events


@pytest.mark.parametrize(("stream", "events"), CASES)
def test_a_stream_fed_byte_by_byte_decodes_the_same(stream: bytes, events: list[tuple[str, str]]) -> None:
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == events


@given(case=st.sampled_from(CASES), cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_how_the_wire_cut_the_stream_never_changes_its_events(
    case: tuple[bytes, list[tuple[str, str]]], cuts: list[int]
) -> None:
    stream, events = case
    points = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    assert decode([stream[a:b] for a, b in itertools.pairwise(points)]) == events


def test_bytes_that_are_not_utf8_do_not_break_the_stream() -> None:
    assert decode([b"data: \xff\xfe\n\ndata: ok\n\n"]) == [("message", "\ufffd\ufffd"), ("message", "ok")]


def test_a_long_line_in_small_chunks_is_one_event() -> None:
    """A base64 image in one event: megabytes on one line, in many chunks (each chunk's text is searched
    once; the line's pieces are joined when it ends)."""
    line = b"data: " + b"A" * (4 << 20) + b"\n\n"
    decoder = EventDecoder()
    events = [event for i in range(0, len(line), 4096) for event in decoder.feed(line[i : i + 4096])]
    assert events == [("message", "A" * (4 << 20))]
