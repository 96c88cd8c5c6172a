"""How long the audio in an MP4/M4A file plays, as services/audio_timing.py reads Ogg's: every sample
of every sound track (its sample table's, whatever its size table counts, and its fragments' runs),
each at the longest of what its time tables give any sample and what its codec's frame plays: an AAC
frame is 1,024 samples at its AudioSpecificConfig's core rate (a decoder plays that whatever the time
table says); another codec's, at most 4,096 samples at 8 kHz (ALAC's longest frame at the lowest
common rate). None when the file has no sound track.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.services.audio_timing import rounded_up

_AAC_RATES = (96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350)
_AAC_FRAME = 1024
_OTHER_FRAME_SECONDS = Decimal(4096) / 8000


@dataclass
class _Track:
    timescale: int
    samples: int
    longest: int  # the longest duration its time tables give a sample, in its timescale
    frame_seconds: Decimal  # the longest its codec's frame plays

    def seconds(self) -> Decimal:
        return self.samples * max(Decimal(self.longest) / self.timescale, self.frame_seconds)


def mp4_seconds(content: bytes) -> Decimal | None:
    boxes = _boxes(content, 0, len(content))
    moov = next((_boxes(content, start, end) for kind, start, end in boxes if kind == b"moov"), [])
    defaults = dict(_trex_durations(content, moov))
    tracks: dict[int, _Track] = {}
    for kind, start, end in moov:
        if kind == b"trak":
            found = _track(content, start, end)
            if found is not None:
                number, track = found
                track.longest = max(track.longest, defaults.get(number, 0))
                tracks[number] = track
    for kind, start, end in boxes:
        if kind == b"moof":
            for number, samples, longest in _fragment_runs(content, start, end, defaults):
                if number in tracks:
                    tracks[number].samples += samples
                    tracks[number].longest = max(tracks[number].longest, longest)
    if not tracks:
        return None
    return rounded_up(sum((track.seconds() for track in tracks.values()), Decimal(0)))


def _boxes(content: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, body start, body end) of the boxes between `start` and `end`, as far as they parse."""
    found = []
    while start + 8 <= end:
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


def _child(content: bytes, start: int, end: int, *path: bytes) -> tuple[int, int] | None:
    for kind in path:
        box = next(((s, e) for k, s, e in _boxes(content, start, end) if k == kind), None)
        if box is None:
            return None
        start, end = box
    return start, end


def _uint(content: bytes, at: int, size: int = 4) -> int:
    return int.from_bytes(content[at : at + size], "big")


def _track(content: bytes, start: int, end: int) -> tuple[int, _Track] | None:
    """A sound `trak`'s number and what its header, sample table and sample description say."""
    hdlr = _child(content, start, end, b"mdia", b"hdlr")
    mdhd = _child(content, start, end, b"mdia", b"mdhd")
    if hdlr is None or content[hdlr[0] + 8 : hdlr[0] + 12] != b"soun" or mdhd is None:
        return None
    timescale = _uint(content, mdhd[0] + (20 if content[mdhd[0]] == 1 else 12))
    tkhd = _child(content, start, end, b"tkhd")
    number = _uint(content, tkhd[0] + (20 if content[tkhd[0]] == 1 else 12)) if tkhd is not None else 0
    stbl = _child(content, start, end, b"mdia", b"minf", b"stbl")
    samples = longest = 0
    frame = _OTHER_FRAME_SECONDS
    if stbl is not None:
        stts = _child(content, *stbl, b"stts")
        if stts is not None:
            for entry in range(min(_uint(content, stts[0] + 4), (stts[1] - stts[0] - 8) // 8)):
                at = stts[0] + 8 + 8 * entry
                samples += _uint(content, at)
                longest = max(longest, _uint(content, at + 4))
        stsz = _child(content, *stbl, b"stsz")
        if stsz is not None:  # samples the table sizes but gives no duration still play
            samples = max(samples, _uint(content, stsz[0] + 8))
        stsd = _child(content, *stbl, b"stsd")
        if stsd is not None:
            frame = _frame_seconds(content, stsd[0] + 8, stsd[1])
    return number, _Track(timescale or 1, samples, longest, frame)


def _frame_seconds(content: bytes, start: int, end: int) -> Decimal:
    """The longest a frame of the first sample description's codec plays."""
    entry = next(iter(_boxes(content, start, end)), None)
    if entry is None or entry[0] != b"mp4a":
        return _OTHER_FRAME_SECONDS
    _, body, body_end = entry
    version = _uint(content, body + 8, 2)  # QuickTime sound descriptions 1 and 2 are longer
    children = body + 28 + {1: 16, 2: 36}.get(version, 0)
    esds = _child(content, children, body_end, b"esds") or _child(content, children, body_end, b"wave", b"esds")
    rate = _aac_core_rate(_decoder_config(content, esds[0] + 4, esds[1])) if esds is not None else 0
    return Decimal(_AAC_FRAME) / rate if rate else _OTHER_FRAME_SECONDS


def _decoder_config(content: bytes, start: int, end: int) -> bytes:
    """The DecoderSpecificInfo (an AAC AudioSpecificConfig) inside an `esds`'s descriptors."""
    position = start
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
            position += 13
        elif tag == 0x05:
            return content[position : min(position + length, end)]
        else:
            position += length
    return b""


def _aac_core_rate(config: bytes) -> int:
    """The sampling rate an AudioSpecificConfig's frames are coded at (its SBR extension's output rate
    plays the same frame in the same time); 0 when it cannot be read."""
    if not config:
        return 0
    bits = int.from_bytes(config[:6].ljust(6, b"\x00"), "big")
    width, cursor = 48, 5
    if bits >> (width - 5) & 0x1F == 31:  # an escaped object type: 6 more bits
        cursor += 6
    index = bits >> (width - cursor - 4) & 0x0F
    if index == 15:
        return bits >> (width - cursor - 4 - 24) & 0xFFFFFF
    return _AAC_RATES[index] if index < len(_AAC_RATES) else 0


def _trex_durations(content: bytes, moov: list[tuple[bytes, int, int]]) -> list[tuple[int, int]]:
    """(track id, default sample duration) of each `trex` in `mvex`: fragments' samples default to it."""
    mvex = next(((s, e) for k, s, e in moov if k == b"mvex"), None)
    if mvex is None:
        return []
    return [(_uint(content, s + 4), _uint(content, s + 12)) for k, s, e in _boxes(content, *mvex) if k == b"trex"]


def _fragment_runs(content: bytes, start: int, end: int, defaults: dict[int, int]) -> list[tuple[int, int, int]]:
    """(track id, samples, longest sample duration) of each `traf` of a `moof`."""
    runs = []
    for kind, s, e in _boxes(content, start, end):
        tfhd = _child(content, s, e, b"tfhd") if kind == b"traf" else None
        if tfhd is None:
            continue
        flags, number = _uint(content, tfhd[0]) & 0xFFFFFF, _uint(content, tfhd[0] + 4)
        at = tfhd[0] + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
        samples, longest = 0, _uint(content, at) if flags & 0x08 else defaults.get(number, 0)
        for run_kind, rs, run_end in _boxes(content, s, e):
            if run_kind != b"trun":
                continue
            run_flags, count = _uint(content, rs) & 0xFFFFFF, _uint(content, rs + 4)
            samples += count
            if run_flags & 0x100:  # each sample's own duration, the first of its fields
                field = rs + 8 + (4 if run_flags & 0x01 else 0) + (4 if run_flags & 0x04 else 0)
                width = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if run_flags & bit)
                for index in range(min(count, max(run_end - field, 0) // width)):
                    longest = max(longest, _uint(content, field + index * width))
        runs.append((number, samples, longest))
    return runs
