"""How long the audio in a WebM (Matroska) file plays, from its blocks as a decoder reads them: every
frame of every Opus or Vorbis track (a block's laced frames each), at its longest, as services/
audio_timing.py reads Ogg's packets. Timecodes and durations a file states are never trusted to be
short. None when no track is Opus or Vorbis.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from gateway.services.audio_timing import (
    Steps,
    Unmeasurable,
    opus_packet_half_ms,
    past,
    rounded_up,
    vorbis_packet_samples,
)

_SEGMENT, _TRACKS, _TRACK, _CLUSTER = 0x18538067, 0x1654AE6B, 0xAE, 0x1F43B675
_NUMBER, _CODEC, _PRIVATE, _ENCODINGS = 0xD7, 0x86, 0x63A2, 0x6D80
_SIMPLE_BLOCK, _BLOCK_GROUP, _BLOCK = 0xA3, 0xA0, 0xA1
_MASTERS = {_SEGMENT, _TRACKS, _TRACK, _CLUSTER, _BLOCK_GROUP}  # elements read into
_CLUSTER_ID = _CLUSTER.to_bytes(4, "big")


def webm_seconds(content: bytes, ceiling: float = float("inf")) -> Decimal | None:
    tracks: dict[int, tuple[str, int, int]] = {}  # number -> (codec, Vorbis rate, samples per packet)
    for element, start, end in _elements(content, 0, len(content)):  # before the blocks or after them
        track = _track(content, start, end) if element == _TRACK else None
        if track is not None:
            tracks.setdefault(track[0], track[1:])  # the first of a number, as FFmpeg takes it
    half_ms = 0  # Opus
    vorbis: dict[int, int] = {}  # track number -> packets
    for element, start, end in _elements(content, 0, len(content)):
        if element in (_SIMPLE_BLOCK, _BLOCK):
            number, frames = _block(content, start, end)
            codec = tracks.get(number)
            if codec is None:
                continue
            if codec[0] == "opus":
                half_ms += sum(opus_packet_half_ms(frame) for frame in frames)
            else:
                vorbis[number] = vorbis.get(number, 0) + sum(1 for frame in frames if frame)
            if half_ms / 2000 + sum(n * tracks[t][2] / tracks[t][1] for t, n in vorbis.items()) > ceiling:
                return past(ceiling)
    if not tracks:
        return None
    seconds = Decimal(half_ms) / 2000
    seconds += sum((Decimal(n * tracks[t][2]) / tracks[t][1] for t, n in vorbis.items()), Decimal(0))
    return rounded_up(seconds)


def _elements(content: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, body start, body end) of every element, depth first into the ones that hold blocks and
    tracks; an element of unknown size (a live recording's) runs to the end of its parent. Where an
    element cannot be read, the next Cluster is searched for, as FFmpeg resyncs."""
    steps = Steps()
    stack = [(start, end)]
    while stack:
        position, limit = stack.pop()
        children: list[tuple[int, int]] = []
        while position < limit:
            steps.take()
            header = _header(content, position, limit)
            if header is None:
                position = content.find(_CLUSTER_ID, position + 1, limit)
                if position < 0:
                    break
                continue
            element, body, size = header
            body_end = limit if size is None else min(body + size, limit)
            yield element, body, body_end
            if element in _MASTERS:
                children.append((body, body_end))
                if size is None:  # what follows belongs to it
                    break
            position = body_end
        stack.extend(reversed(children))


def _header(content: bytes, position: int, limit: int) -> tuple[int, int, int | None] | None:
    element = _vint(content, position, limit, keep_marker=True)
    if element is None:
        return None
    element_id, after_id = element
    size = _vint(content, after_id, limit, keep_marker=False)
    if size is None:
        return None
    value, body = size
    unknown = value == (1 << (7 * (body - after_id))) - 1
    return element_id, body, None if unknown else value


def _vint(content: bytes, position: int, limit: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `position`: (value, where it ends)."""
    if position >= limit:
        return None
    first = content[position]
    length = next((n for n in range(1, 9) if first & (0x100 >> n)), 0)
    if length == 0 or position + length > limit:
        return None
    value = first if keep_marker else first & (0xFF >> length)
    for byte in content[position + 1 : position + length]:
        value = value << 8 | byte
    return value, position + length


def _track(content: bytes, start: int, end: int) -> tuple[int, str, int, int] | None:
    """(number, codec, Vorbis rate, Vorbis samples per packet at most) of an Opus or Vorbis track."""
    fields: dict[int, bytes] = {}
    position = start
    while position < end:
        header = _header(content, position, end)
        if header is None:
            break
        element, body, size = header
        body_end = end if size is None else min(body + size, end)
        fields[element] = content[body:body_end]
        position = body_end
    number, codec = int.from_bytes(fields.get(_NUMBER, b""), "big"), fields.get(_CODEC, b"")
    if not codec.startswith(b"A_"):
        return None  # video, subtitles
    if _ENCODINGS in fields:  # compressed or stripped frames: their bytes are not the codec's
        raise Unmeasurable
    if codec.startswith(b"A_OPUS"):  # FFmpeg matches a codec id by its start
        return number, "opus", 1, 0
    if codec.startswith(b"A_VORBIS"):
        rate, samples = vorbis_packet_samples(_first_xiph_packet(fields.get(_PRIVATE, b"")))
        if rate:
            return number, "vorbis", rate, samples
    raise Unmeasurable  # audio of another codec (FLAC, AAC, PCM): silence there would go uncounted


def _first_xiph_packet(private: bytes) -> bytes:
    """The identification header of a Vorbis track's CodecPrivate (its three headers, Xiph-laced)."""
    if not private:
        return b""
    position, size = 1, 0
    while position < len(private):
        size += private[position]
        position += 1
        if private[position - 1] < 255:
            break
    for _ in range(private[0] - 1):  # the other sizes of the lacing, before the packets
        while position < len(private) and private[position] == 255:
            position += 1
        position += 1
    return private[position : position + size]


def _block(content: bytes, start: int, end: int) -> tuple[int, list[bytes]]:
    """(track number, its frames) of a (Simple)Block."""
    track = _vint(content, start, end, keep_marker=False)
    if track is None or track[1] + 3 > end:
        return 0, []
    number, position = track[0], track[1] + 3  # the timecode (2 bytes) and the flags (1)
    lacing = (content[position - 1] >> 1) & 3
    if lacing == 0:
        return number, [content[position:end]]
    count = content[position] + 1 if position < end else 0
    position += 1
    sizes: list[int] = []
    if lacing == 1:  # Xiph
        for _ in range(count - 1):
            size = 0
            while position < end and content[position] == 255:
                size += 255
                position += 1
            size += content[position] if position < end else 0
            position += 1
            sizes.append(size)
    elif lacing == 3:  # EBML: the first size, then signed differences
        first = _vint(content, position, end, keep_marker=False)
        if first is None:
            return number, []
        sizes.append(first[0])
        position = first[1]
        for _ in range(count - 2):
            delta = _vint(content, position, end, keep_marker=False)
            if delta is None:
                return number, []
            length = delta[1] - position
            sizes.append(max(sizes[-1] + delta[0] - ((1 << (7 * length - 1)) - 1), 0))
            position = delta[1]
    else:  # fixed: equal parts
        sizes = [(end - position) // count] * (count - 1) if count else []
    frames = []
    for size in sizes:
        frames.append(content[position : position + size])
        position += size
    frames.append(content[position:end])
    return number, frames
