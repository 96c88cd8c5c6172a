"""AAC in MP4/M4A is held for what its frames play: real encodes by FFmpeg (PyAV), some rewritten box by
box to say less than they play."""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import av
import pytest

from gateway.errors import InvalidRequest
from gateway.services.audio_files import inspect, size_bound
from gateway.services.audio_mp4 import mp4_seconds
from tests.support.audio_encodes import aac_in_mp4, aac_packets, played_seconds


def test_ten_minutes_of_aac_silence_in_m4a_is_held_for_ten_minutes() -> None:
    audio = aac_in_mp4(600)
    assert size_bound(len(audio)) < 150  # ~76 kB
    played = mp4_seconds(audio)
    assert played is not None
    assert 600 <= played <= Decimal("600.2")
    assert inspect(audio).bound_seconds >= 600


def test_a_fragmented_mp4_counts_the_samples_of_its_fragments() -> None:
    audio = aac_in_mp4(60, container="mp4", movflags="frag_keyframe+empty_moov")
    played = mp4_seconds(audio)
    assert played is not None
    assert 60 <= played <= Decimal("60.2")


def test_an_mp4_whose_time_table_lies_short_is_held_for_every_sample_it_sizes() -> None:
    audio = bytearray(aac_in_mp4(120))
    stts = audio.find(b"stts")
    entries = int.from_bytes(audio[stts + 8 : stts + 12], "big")
    for entry in range(entries):  # every run of samples said to be one sample long
        at = stts + 12 + 8 * entry
        audio[at : at + 4] = (1).to_bytes(4, "big")
    assert inspect(bytes(audio)).bound_seconds >= 120


def test_an_mp4_whose_time_table_gives_its_samples_no_time_is_held_for_what_its_aac_frames_play() -> None:
    audio = bytearray(aac_in_mp4(120))
    stts = audio.find(b"stts")
    for entry in range(int.from_bytes(audio[stts + 8 : stts + 12], "big")):  # each sample said to last a tick
        at = stts + 16 + 8 * entry
        audio[at : at + 4] = (1).to_bytes(4, "big")
    assert inspect(bytes(audio)).bound_seconds >= 120


def test_an_mp4_without_a_sound_track_is_refused() -> None:
    bare = b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42" + b"\x00" * 2000
    assert mp4_seconds(bare) is None
    with pytest.raises(InvalidRequest):
        inspect(bare)


def boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """An MP4 level's boxes as (type, body); every box of these files has a 32-bit size."""
    found, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        found.append((data[at + 4 : at + 8], data[at + 8 : at + size]))
        at += size
    return found


def box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def rewritten(audio: bytes, path: tuple[bytes, ...], change: Callable[[bytes], bytes]) -> bytes:
    """`audio` with the body of the box at `path` (the first of each type) changed, sizes redone."""

    def level(data: bytes, rest: tuple[bytes, ...]) -> bytes:
        out, done = b"", False
        for kind, body in boxes(data):
            if kind == rest[0] and not done:
                body, done = (change(body) if len(rest) == 1 else level(body, rest[1:])), True
            out += box(kind, body)
        return out

    return level(audio, path)


TRAK = (b"moov", b"trak")
STBL = (*TRAK, b"mdia", b"minf", b"stbl")


def test_an_edit_list_that_plays_the_samples_again_and_again_is_held_for_every_repeat() -> None:
    audio = aac_in_mp4(60, container="mp4")
    mvhd = dict(boxes(dict(boxes(audio))[b"moov"]))[b"mvhd"]
    timescale, duration = mvhd[12:16], mvhd[16:20]  # the movie's (version 0)
    repeats = 50
    edit = duration + b"\x00" * 4 + b"\x00\x01\x00\x00"  # the whole movie from its start, at rate 1
    elst = box(b"elst", b"\x00" * 4 + repeats.to_bytes(4, "big") + edit * repeats)
    edited = rewritten(audio, TRAK, lambda trak: box(b"edts", elst) + trak)
    presented = Decimal(repeats * int.from_bytes(duration, "big")) / int.from_bytes(timescale, "big")
    assert presented > 2_900
    assert inspect(edited).bound_seconds >= presented


def test_a_compact_size_table_counts_its_samples() -> None:
    audio = aac_in_mp4(60, container="mp4")

    def compact(stbl: bytes) -> bytes:
        out = b""
        for kind, body in boxes(stbl):
            if kind == b"stsz":  # the same count, 16-bit sizes; and a time table of one sample
                count = int.from_bytes(body[8:12], "big")
                sizes = [int.from_bytes(body[12 + 4 * i : 16 + 4 * i], "big") for i in range(count)]
                kind, body = b"stz2", b"\x00" * 7 + b"\x10" + body[8:12] + b"".join(s.to_bytes(2, "big") for s in sizes)
            elif kind == b"stts":
                body = b"\x00" * 4 + (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + (1024).to_bytes(4, "big")
            out += box(kind, body)
        return out

    assert inspect(rewritten(audio, STBL, compact)).bound_seconds >= 60


def test_a_sound_track_under_another_handler_is_still_counted() -> None:
    audio = aac_in_mp4(60, container="mp4")
    renamed = rewritten(audio, (*TRAK, b"mdia", b"hdlr"), lambda hdlr: hdlr[:8] + b"xxxx" + hdlr[12:])
    assert inspect(renamed).bound_seconds >= 60


def with_decoder_config(audio: bytes, config: bytes) -> bytes:
    """`audio` with its AAC sample entry's AudioSpecificConfig replaced by `config`."""

    def descriptor(tag: int, body: bytes) -> bytes:
        return bytes([tag, len(body)]) + body

    def stsd(body: bytes) -> bytes:
        (kind, entry), *_ = boxes(body[8:])
        decoder = descriptor(0x04, b"\x40\x15" + b"\x00" * 11 + descriptor(0x05, config))
        esds = box(b"esds", b"\x00" * 4 + descriptor(0x03, b"\x00\x02\x00" + decoder + descriptor(0x06, b"\x02")))
        return body[:8] + box(kind, entry[:28] + esds)

    return rewritten(audio, (*STBL, b"stsd"), stsd)


def test_usac_frames_are_held_at_their_longest() -> None:
    audio = aac_in_mp4(30)
    usac = (0b11111_001010_1000_0001 << 5).to_bytes(3, "big")  # object type 42 (escaped), 16 kHz, mono
    played = mp4_seconds(with_decoder_config(audio, usac))
    assert played is not None
    assert played >= 4 * 30  # 4,096 samples a frame where AAC's are 1,024
    aac = (0b00010_1000_0001 << 3).to_bytes(2, "big")  # AAC LC, 16 kHz, mono: as FFmpeg wrote it
    again = mp4_seconds(with_decoder_config(audio, aac))
    assert again is not None
    assert 30 <= again <= Decimal("30.2")


def adts_framed(payload: bytes, rate_index: int) -> bytes:
    """`payload` behind an ADTS header: AAC LC, mono, no CRC, at the rate `rate_index` names."""
    length = len(payload) + 7
    header = (0xFFF1 << 40) | (1 << 38) | (rate_index << 34) | (1 << 30) | (length << 13) | (0x7FF << 2)
    return header.to_bytes(7, "big") + payload


def test_aac_samples_whose_adts_headers_name_a_lower_rate_are_held_for_what_ffmpeg_plays() -> None:
    """An MP4 configured at 48 kHz whose samples are 8 kHz frames behind ADTS headers saying so. FFmpeg's
    muxer describes them twice (48 kHz, then 8 kHz from the headers); an attacker keeps the first."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="ipod") as muxer:
        stream = muxer.add_stream("aac", rate=48_000, layout="mono")
        stream.codec_context.extradata = (0b00010_0011_0001 << 3).to_bytes(2, "big")  # AAC LC, 48 kHz, mono
        for index, payload in enumerate(aac_packets(60, 8_000)):
            packet = av.Packet(adts_framed(payload, 11))  # 11: 8,000 Hz
            packet.stream, packet.time_base = stream, Fraction(1, 48_000)
            packet.pts = packet.dts = index * 1024
            packet.duration = 1024
            muxer.mux(packet)
    as_muxed = out.getvalue()

    def first_entry_only(stsd: bytes) -> bytes:
        (kind, entry), *_ = boxes(stsd[8:])
        return stsd[:4] + (1).to_bytes(4, "big") + box(kind, entry)

    def every_chunk_described_by_the_first(stsc: bytes) -> bytes:
        count = int.from_bytes(stsc[4:8], "big")
        return stsc[:8] + b"".join(stsc[8 + 12 * n : 16 + 12 * n] + (1).to_bytes(4, "big") for n in range(count))

    crafted = rewritten(as_muxed, (*STBL, b"stsd"), first_entry_only)  # moov follows mdat: no offset moves
    crafted = rewritten(crafted, (*STBL, b"stsc"), every_chunk_described_by_the_first)
    for audio in (as_muxed, crafted):
        played = played_seconds(audio)
        assert played > 9
        assert inspect(audio).bound_seconds >= played
