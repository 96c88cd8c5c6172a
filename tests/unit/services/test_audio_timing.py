"""Compressed audio is held for what its frames play, not what its size suggests: the files here are
real FLAC and Ogg (Opus, Vorbis) encodes by libsndfile and AAC in MP4 by FFmpeg (PyAV), and silence
takes a few bytes a second in them."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import soundfile

from gateway.errors import InvalidRequest
from gateway.services import audio_files
from gateway.services.audio_files import inspect, size_bound
from gateway.services.audio_timing import _crc8, flac_frames_seconds, ogg_seconds
from gateway.services.audio_webm import webm_seconds
from tests.support.audio_encodes import aac_in_mp4, muxed


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
