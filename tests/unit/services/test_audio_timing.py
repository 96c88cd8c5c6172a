"""Compressed audio is held for what its frames play, not what its size suggests: the files here are
real FLAC and Ogg (Opus, Vorbis) encodes by libsndfile and AAC in MP4 by FFmpeg (PyAV), and silence
takes a few bytes a second in them."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from gateway.errors import InvalidRequest
from gateway.services import audio_files
from gateway.services.audio_files import inspect, size_bound
from gateway.services.audio_mp4 import mp4_seconds
from gateway.services.audio_timing import _crc8, flac_frames_seconds, ogg_seconds
from gateway.services.audio_webm import webm_seconds


def encoded(samples: np.ndarray, rate: int, fmt: str, subtype: str, tmp_path: Path) -> bytes:
    path = tmp_path / f"audio.{subtype.lower()}"  # a file: libsndfile's Ogg writers need one
    soundfile.write(path, samples, rate, format=fmt, subtype=subtype)
    return path.read_bytes()


def silence(seconds: int, rate: int) -> np.ndarray:
    return np.zeros(seconds * rate, dtype="int16")


def quiet_noise(seconds: int, rate: int) -> np.ndarray:
    """libsndfile's Vorbis encoder crashes on pure digital silence; a faint hiss stands in for it."""
    return (np.random.default_rng(7).standard_normal(seconds * rate) * 0.01).astype("float32")


def test_ten_minutes_of_flac_silence_is_held_for_ten_minutes_not_its_size(tmp_path: Path) -> None:
    audio = encoded(silence(600, 16_000), 16_000, "FLAC", "PCM_16", tmp_path)
    assert size_bound(len(audio)) < 60  # ~28 kB: under a minute at 750 bytes a second
    assert flac_frames_seconds(audio, 16_000) == Decimal("600.000")
    assert inspect(audio).bound_seconds >= 600


@pytest.mark.parametrize("recorded", [0, 1])
def test_a_flac_recording_no_length_or_a_short_one_is_still_held_for_its_frames(tmp_path: Path, recorded: int) -> None:
    audio = bytearray(encoded(silence(300, 8_000), 8_000, "FLAC", "PCM_16", tmp_path))
    packed = int.from_bytes(audio[18:26], "big")
    audio[18:26] = ((packed >> 36 << 36) | recorded).to_bytes(8, "big")  # STREAMINFO's total samples
    assert inspect(bytes(audio)).bound_seconds >= 300


def test_a_flac_frame_header_that_fails_its_crc_is_not_a_frame() -> None:
    header = bytes([0xFF, 0xF8, 0xC9, 0x08, 0x00])  # 4096 samples at 44.1 kHz, frame 0
    valid = header + bytes([_crc8(header)])
    assert flac_frames_seconds(b"fLaC" + valid + b"\x00" * 32, 44_100) > 0
    assert flac_frames_seconds(b"fLaC" + header + bytes([_crc8(header) ^ 1]) + b"\x00" * 32, 44_100) == 0


def test_a_minute_of_opus_silence_is_held_for_a_minute(tmp_path: Path) -> None:
    audio = encoded(silence(60, 48_000), 48_000, "OGG", "OPUS", tmp_path)
    assert size_bound(len(audio)) < 60
    seconds = ogg_seconds(audio)
    assert seconds is not None
    assert 60 <= seconds <= Decimal("60.1")
    assert inspect(audio).bound_seconds >= 60


def test_vorbis_is_held_for_at_least_what_it_plays(tmp_path: Path) -> None:
    audio = encoded(quiet_noise(5, 44_100), 44_100, "OGG", "VORBIS", tmp_path)
    seconds = ogg_seconds(audio)
    assert seconds is not None
    assert 5 <= seconds <= Decimal("5.2")


def test_an_ogg_file_with_no_stream_it_measures_is_refused() -> None:
    junk = b"OggS\x00\x02" + b"\x00" * 1494
    assert ogg_seconds(junk) is None
    with pytest.raises(InvalidRequest):
        inspect(junk)


def test_a_page_that_fails_its_checksum_hides_no_page_behind_it(tmp_path: Path) -> None:
    """A made-up page whose declared body covers the real pages after it: libogg rejects it by its
    checksum and finds the pages it covered; so does the count."""
    audio = encoded(silence(60, 48_000), 48_000, "OGG", "OPUS", tmp_path)
    cover = min(len(audio), 255 * 200)
    fake = b"OggS\x00\x00" + b"\x00" * 8 + b"\x99" * 4 + b"\x00" * 8 + bytes([200]) + bytes([255] * 200)
    played = ogg_seconds(fake + audio + b"\x00" * max(0, cover - len(audio)))
    assert played is not None
    assert played >= 60


def flac_in(container: str) -> bytes:
    """FLAC silence muxed by FFmpeg into an Ogg or Matroska container."""
    blocks = [np.zeros((1, 4096), dtype="int16")] * 8
    return muxed(container, "flac", 8_000, blocks, sample_format="s16")


@pytest.mark.parametrize("container", ["ogg", "matroska"])
def test_ogg_or_matroska_audio_of_a_codec_it_does_not_measure_is_refused(container: str) -> None:
    """FLAC inside them: its silence would go uncounted."""
    with pytest.raises(InvalidRequest):
        inspect(flac_in(container))


def test_an_id3_tag_before_another_format_does_not_make_it_an_mp3(tmp_path: Path) -> None:
    flac = encoded(silence(600, 16_000), 16_000, "FLAC", "PCM_16", tmp_path)
    tagged = b"ID3\x04\x00\x00\x00\x00\x00\x00" + flac  # an empty ID3v2.4 tag
    info = inspect(tagged)
    assert (info.container, info.bound_seconds >= 600) == ("flac", True)


def test_a_wav_of_a_codec_whose_silence_takes_no_room_is_refused() -> None:
    fields = struct.pack("<HHIIHH", 0xF1AC, 1, 8000, 0, 0, 16)  # FLAC inside a WAV
    data = b"data" + struct.pack("<I", 100) + b"\x00" * 100
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fields)) + fields + data
    with pytest.raises(InvalidRequest):
        inspect(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_a_truncated_file_is_refused_or_read_as_far_as_it_goes(tmp_path: Path) -> None:
    flac = encoded(silence(60, 16_000), 16_000, "FLAC", "PCM_16", tmp_path)
    opus = encoded(silence(60, 48_000), 48_000, "OGG", "OPUS", tmp_path)
    fragmented = aac_in_mp4(60, container="mp4", movflags="frag_keyframe+empty_moov")
    for audio in (flac, opus, fragmented, in_webm(60, "libopus", 48_000)):
        for cut in (12, 30, 200):
            refused = False
            try:
                info = inspect(audio[:cut])
            except InvalidRequest:  # a head too short to hold a frame: nothing measured
                refused = True
            assert refused or info.bound_seconds >= size_bound(cut)
        assert inspect(audio[: len(audio) // 2]).bound_seconds >= 25


def test_a_file_playing_past_the_longest_the_gateway_takes_is_refused_without_reading_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio_files, "MAX_SECONDS", 60)  # four hours, made a minute to keep the files small
    for audio in (
        encoded(silence(120, 8_000), 8_000, "FLAC", "PCM_16", tmp_path),
        encoded(silence(120, 48_000), 48_000, "OGG", "OPUS", tmp_path),
    ):
        with pytest.raises(InvalidRequest) as refused:
            inspect(audio)
        assert refused.value.param == "file"
    flac = encoded(silence(120, 8_000), 8_000, "FLAC", "PCM_16", tmp_path)
    assert 30 < flac_frames_seconds(flac, 8_000, 30) < 31  # read no further than past the ceiling


def muxed(
    container: str,
    codec: str,
    rate: int,
    blocks: Iterable[np.ndarray],
    *,
    sample_format: str,
    layout: str = "mono",
    **options: str,
) -> bytes:
    """`blocks` of samples encoded by FFmpeg's `codec` and muxed into `container`, in memory."""
    out, at = io.BytesIO(), 0
    with av.open(out, mode="w", format=container, options=options) as muxer:
        stream = muxer.add_stream(codec, rate=rate, layout=layout)
        stream.codec_context.options = {"strict": "experimental"}  # FFmpeg's own Vorbis encoder
        for samples in [*blocks, None]:
            frame = None
            if samples is not None:
                frame = av.AudioFrame.from_ndarray(samples, format=sample_format, layout=layout)
                frame.sample_rate, frame.pts = rate, at
                at += samples.shape[-1] // (1 if sample_format.endswith("p") or layout == "mono" else 2)
            for packet in stream.encode(frame):
                muxer.mux(packet)
    return out.getvalue()


def aac_in_mp4(seconds: int, rate: int = 16_000, container: str = "ipod", **options: str) -> bytes:
    """AAC silence muxed by FFmpeg: `ipod` is M4A; `movflags` may fragment it."""
    blocks = (np.zeros((1, 1024), dtype="float32") for _ in range(seconds * rate // 1024))
    return muxed(container, "aac", rate, blocks, sample_format="fltp", **options)


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


def in_webm(seconds: int, codec: str, rate: int, layout: str = "mono") -> bytes:
    """Opus (libopus) silence, or a faint Vorbis hiss (FFmpeg's own encoder), muxed into WebM by FFmpeg."""
    channels, count = (1 if layout == "mono" else 2), seconds * rate // 960
    rng = np.random.default_rng(3)
    if codec == "libopus":  # interleaved samples
        blocks: Iterable[np.ndarray] = (np.zeros((1, 960 * channels), dtype="float32") for _ in range(count))
        return muxed("webm", codec, rate, blocks, sample_format="flt", layout=layout)
    blocks = ((rng.standard_normal((channels, 960)) * 0.01).astype("float32") for _ in range(count))
    return muxed("webm", codec, rate, blocks, sample_format="fltp", layout=layout)


def test_ten_minutes_of_opus_silence_in_webm_is_held_for_ten_minutes() -> None:
    audio = in_webm(600, "libopus", 48_000)
    assert size_bound(len(audio)) < 600
    played = webm_seconds(audio)
    assert played is not None
    assert 600 <= played <= Decimal("600.1")
    assert inspect(audio).bound_seconds >= 600


def test_vorbis_in_webm_is_held_for_at_least_what_it_plays() -> None:
    played = webm_seconds(in_webm(20, "vorbis", 44_100, "stereo"))
    assert played is not None
    assert 20 <= played <= Decimal("20.2")


def test_a_webm_past_the_longest_the_gateway_takes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio_files, "MAX_SECONDS", 60)
    with pytest.raises(InvalidRequest):
        inspect(in_webm(120, "libopus", 48_000))


def test_a_webm_without_an_opus_or_vorbis_track_is_refused() -> None:
    bare = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 2000
    assert webm_seconds(bare) is None
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
