"""How long the audio in an MP4/M4A file plays, as services/audio_timing.py reads Ogg's: every sample
of every sound track (a `soun` handler or an audio sample entry; its sample table's, whatever its size
table counts, and its fragments' runs), each at the longest of what its time tables give any sample
and what its codec's frame plays: an AAC frame is 1,024 samples at its AudioSpecificConfig's core
rate (a decoder plays that whatever the time table says), a USAC frame at most 4,096; another
codec's, at most 4,096 samples at 8 kHz (ALAC's usual longest frame at the lowest common rate); and
never less than its edit list presents (an edit list can play samples more than once). None when
the file has no sound track.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.services.audio_timing import Steps, past, rounded_up

_AAC_RATES = (96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350)
_AAC_FRAME = 1024
_USAC = 42  # the audio object type of USAC (xHE-AAC): frames of up to 4,096 samples (4:1 SBR)
_USAC_FRAME = 4096
_OTHER_FRAME_SECONDS = Decimal(4096) / 8000
_AAC_OBJECTS = {0x40, 0x66, 0x67, 0x68}  # the esds objectTypeIndication of AAC (MPEG-4, MPEG-2 profiles)
_AUDIO_ENTRIES = {b"mp4a", b"fLaC", b"alac", b"Opus", b".mp3", b"ac-3", b"ec-3", b"samr", b"sawb", b"twos",
                  b"sowt", b"lpcm", b"ulaw", b"alaw", b"in24", b"in32", b"fl32", b"fl64", b"dtsc", b"mha1"}  # fmt: skip


@dataclass
class _Track:
    number: int
    timescale: int
    samples: int
    longest: int  # the longest duration its time tables give a sample, in its timescale
    frame_seconds: Decimal  # the longest its codec's frame plays
    presented: Decimal  # what its edit list presents

    def seconds(self) -> Decimal:
        return max(self.samples * max(Decimal(self.longest) / self.timescale, self.frame_seconds), self.presented)


def mp4_seconds(content: bytes, ceiling: float = float("inf")) -> Decimal | None:
    steps = Steps()
    boxes = _boxes(content, 0, len(content), steps)
    moov = next((_boxes(content, start, end, steps) for kind, start, end in boxes if kind == b"moov"), [])
    mvhd = next(((s, e) for k, s, e in moov if k == b"mvhd"), None)
    movie_scale = _uint(content, mvhd[0] + (20 if content[mvhd[0]] == 1 else 12)) if mvhd is not None else 0
    defaults = dict(_trex_durations(content, moov, steps))
    tracks = [
        track
        for kind, start, end in moov
        if kind == b"trak" and (track := _track(content, start, end, movie_scale or 1, steps)) is not None
    ]
    for track in tracks:
        track.longest = max(track.longest, defaults.get(track.number, 0))
    for kind, start, end in boxes:
        if kind == b"moof":
            for number, samples, longest in _fragment_runs(content, start, end, defaults, steps):
                for track in tracks:  # every track of that number (a duplicated number counts twice)
                    if track.number == number:
                        track.samples += samples
                        track.longest = max(track.longest, longest)
    if not tracks:
        return None
    seconds = sum((track.seconds() for track in tracks), Decimal(0))
    return past(ceiling) if seconds > Decimal(ceiling) else rounded_up(seconds)


def _boxes(content: bytes, start: int, end: int, steps: Steps) -> list[tuple[bytes, int, int]]:
    """(type, body start, body end) of the boxes between `start` and `end`, as far as they parse."""
    found = []
    while start + 8 <= end:
        steps.take()
        size, kind = int.from_bytes(content[start : start + 4], "big"), content[start + 4 : start + 8]
        body = start + 8
        if size == 1 and start + 16 <= end:
            size, body = int.from_bytes(content[start + 8 : start + 16], "big"), start + 16
        elif size == 0:
            size = end - start
        if size < body - start or start + size > end:
            found.append((kind, body, end))  # cut short: read what there is
            break
        found.append((kind, body, start + size))
        start += size
    return found


def _child(content: bytes, start: int, end: int, steps: Steps, *path: bytes) -> tuple[int, int] | None:
    for kind in path:
        box = next(((s, e) for k, s, e in _boxes(content, start, end, steps) if k == kind), None)
        if box is None:
            return None
        start, end = box
    return start, end


def _uint(content: bytes, at: int, size: int = 4) -> int:
    return int.from_bytes(content[at : at + size], "big")


def _track(content: bytes, start: int, end: int, movie_scale: int, steps: Steps) -> _Track | None:
    """A sound `trak`: what its header, sample table, sample description and edit list say."""
    hdlr = _child(content, start, end, steps, b"mdia", b"hdlr")
    stbl = _child(content, start, end, steps, b"mdia", b"minf", b"stbl")
    stsd = _child(content, *stbl, steps, b"stsd") if stbl is not None else None
    entries = _boxes(content, stsd[0] + 8, stsd[1], steps) if stsd is not None else []
    sound = hdlr is not None and content[hdlr[0] + 8 : hdlr[0] + 12] == b"soun"
    if not sound and not any(kind in _AUDIO_ENTRIES for kind, _, _ in entries):
        return None
    mdhd = _child(content, start, end, steps, b"mdia", b"mdhd")
    timescale = _uint(content, mdhd[0] + (20 if content[mdhd[0]] == 1 else 12)) if mdhd is not None else 0
    tkhd = _child(content, start, end, steps, b"tkhd")
    number = _uint(content, tkhd[0] + (20 if content[tkhd[0]] == 1 else 12)) if tkhd is not None else 0
    samples = longest = 0
    if stbl is not None:
        stts = _child(content, *stbl, steps, b"stts")
        if stts is not None:
            count = min(_uint(content, stts[0] + 4), (stts[1] - stts[0] - 8) // 8)
            steps.take(count)
            for entry in range(count):
                at = stts[0] + 8 + 8 * entry
                samples += _uint(content, at)
                longest = max(longest, _uint(content, at + 4))
        for table in (b"stsz", b"stz2"):  # samples a size table counts but no time table gives time still play
            sizes = _child(content, *stbl, steps, table)
            if sizes is not None:
                samples = max(samples, _uint(content, sizes[0] + 8))
    frames = [_frame_seconds(content, kind, body, body_end, steps) for kind, body, body_end in entries]
    return _Track(
        number, timescale or 1, samples, longest, max(frames, default=_OTHER_FRAME_SECONDS),
        _presented(content, start, end, movie_scale, steps),
    )  # fmt: skip


def _presented(content: bytes, start: int, end: int, movie_scale: int, steps: Steps) -> Decimal:
    """The seconds a track's edit list presents (its segments' durations, in the movie's timescale)."""
    elst = _child(content, start, end, steps, b"edts", b"elst")
    if elst is None:
        return Decimal(0)
    wide = content[elst[0]] == 1
    width = 20 if wide else 12
    count = min(_uint(content, elst[0] + 4), (elst[1] - elst[0] - 8) // width)
    steps.take(count)
    total = sum(_uint(content, elst[0] + 8 + index * width, 8 if wide else 4) for index in range(count))
    return Decimal(total) / movie_scale


def _frame_seconds(content: bytes, kind: bytes, body: int, body_end: int, steps: Steps) -> Decimal:
    """The longest a frame of a sample description's codec plays: AAC's from its configuration."""
    if kind != b"mp4a":
        return _OTHER_FRAME_SECONDS
    version = _uint(content, body + 8, 2)  # QuickTime sound descriptions 1 and 2 are longer
    children = body + 28 + {1: 16, 2: 36}.get(version, 0)
    esds = _child(content, children, body_end, steps, b"esds") or _child(
        content, children, body_end, steps, b"wave", b"esds"
    )
    if esds is None:
        return _OTHER_FRAME_SECONDS
    object_type, config = _decoder_config(content, esds[0] + 4, esds[1])
    if object_type not in _AAC_OBJECTS:
        return _OTHER_FRAME_SECONDS
    audio_object, rate = _aac_config(config)
    if not rate:
        return _OTHER_FRAME_SECONDS
    return Decimal(_USAC_FRAME if audio_object == _USAC else _AAC_FRAME) / rate


def _decoder_config(content: bytes, start: int, end: int) -> tuple[int, bytes]:
    """The objectTypeIndication and the DecoderSpecificInfo (AAC's AudioSpecificConfig) of an `esds`."""
    position, object_type = start, 0
    while position + 2 <= end:
        tag, length, position = content[position], 0, position + 1
        for _ in range(4):
            byte = content[position] if position < end else 0
            length, position = length << 7 | byte & 0x7F, position + 1
            if not byte & 0x80:
                break
        if tag == 0x03:  # ES_Descriptor: its fields, then the descriptors it holds
            flags = content[position + 2] if position + 2 < end else 0
            position += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            position += 1 + content[position] if flags & 0x40 and position < end else 0
        elif tag == 0x04:  # DecoderConfigDescriptor: 13 bytes, then the DecoderSpecificInfo
            object_type = content[position] if position < end else 0
            position += 13
        elif tag == 0x05:
            return object_type, content[position : min(position + length, end)]
        else:
            position += length
    return object_type, b""


def _aac_config(config: bytes) -> tuple[int, int]:
    """An AudioSpecificConfig's audio object type and the sampling rate its frames are coded at (its
    SBR extension's output rate plays the same frame in the same time; USAC's is its output rate);
    a rate of 0 when it cannot be read."""
    if not config:
        return 0, 0
    bits = int.from_bytes(config[:6].ljust(6, b"\x00"), "big")
    width, cursor = 48, 5
    audio_object = bits >> (width - 5) & 0x1F
    if audio_object == 31:  # an escaped object type: 32 + 6 more bits
        audio_object = 32 + (bits >> (width - 11) & 0x3F)
        cursor += 6
    index = bits >> (width - cursor - 4) & 0x0F
    if index == 15:
        return audio_object, bits >> (width - cursor - 4 - 24) & 0xFFFFFF
    return audio_object, _AAC_RATES[index] if index < len(_AAC_RATES) else 0


def _trex_durations(content: bytes, moov: list[tuple[bytes, int, int]], steps: Steps) -> list[tuple[int, int]]:
    """(track id, default sample duration) of each `trex` in `mvex`: fragments' samples default to it."""
    mvex = next(((s, e) for k, s, e in moov if k == b"mvex"), None)
    if mvex is None:
        return []
    trex = _boxes(content, *mvex, steps)
    return [(_uint(content, s + 4), _uint(content, s + 12)) for k, s, e in trex if k == b"trex"]


def _fragment_runs(
    content: bytes, start: int, end: int, defaults: dict[int, int], steps: Steps
) -> list[tuple[int, int, int]]:
    """(track id, samples, longest sample duration) of each `traf` of a `moof`."""
    runs = []
    for kind, s, e in _boxes(content, start, end, steps):
        tfhd = _child(content, s, e, steps, b"tfhd") if kind == b"traf" else None
        if tfhd is None:
            continue
        flags, number = _uint(content, tfhd[0]) & 0xFFFFFF, _uint(content, tfhd[0] + 4)
        at = tfhd[0] + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
        samples, longest = 0, _uint(content, at) if flags & 0x08 else defaults.get(number, 0)
        for run_kind, rs, run_end in _boxes(content, s, e, steps):
            if run_kind != b"trun":
                continue
            run_flags, count = _uint(content, rs) & 0xFFFFFF, _uint(content, rs + 4)
            samples += count
            if run_flags & 0x100:  # each sample's own duration, the first of its fields
                field = rs + 8 + (4 if run_flags & 0x01 else 0) + (4 if run_flags & 0x04 else 0)
                width = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if run_flags & bit)
                steps.take(min(count, max(run_end - field, 0) // width))
                for index in range(min(count, max(run_end - field, 0) // width)):
                    longest = max(longest, _uint(content, field + index * width))
        runs.append((number, samples, longest))
    return runs
