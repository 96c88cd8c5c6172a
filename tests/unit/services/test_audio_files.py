"""What an upload is and how long it can last: magic bytes, PCM WAV durations no header field can shorten,
the size bound for everything else."""

from __future__ import annotations

import io
import struct
import wave
from decimal import Decimal

import numpy as np
import pytest

from gateway.errors import InvalidRequest
from gateway.services.audio_files import (
    BOUND_BYTES_PER_SECOND,
    container_of,
    flac_seconds,
    inspect,
    reported_seconds,
    size_bound,
    wav_seconds,
)
from tests.support.audio_encodes import EMPTY_ID3, MP3_FRAME, mp3_of_size, muxed


def wav(seconds: float, rate: int = 16_000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(b"\x00" * width * channels * round(seconds * rate))
    return buffer.getvalue()


def riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WAVE" + b"".join(name + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)
                              for name, data in chunks)  # fmt: skip
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, byte_rate: int, align: int, bits: int) -> tuple[bytes, bytes]:
    return b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, byte_rate, align, bits)


def flac(rate: int, total_samples: int) -> bytes:
    packed = (rate << 44) | (0 << 41) | (15 << 36) | total_samples
    info = b"\x10\x00\x10\x00" + b"\x00" * 6 + packed.to_bytes(8, "big") + b"\x00" * 16
    return b"fLaC" + b"\x80" + len(info).to_bytes(3, "big") + info + b"\xff\xf8" + b"\x00" * 20


@pytest.mark.parametrize(
    ("head", "container"),
    [
        (wav(0.1), "wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
        (b"\xff\xfb\x90\x64" + b"\x00" * 8, "mp3"),  # MPEG-1 layer III frame, no ID3 tag
        (b"\xff\xf3\x48\xc4" + b"\x00" * 8, "mp3"),  # MPEG-2 layer III
        (b"OggS\x00\x02" + b"\x00" * 20, "ogg"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "mp4"),
        (b"\x00\x00\x00\x18ftypmp42", "mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "webm"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", None),  # ADTS AAC: not a format the transcription API takes
        (b"RIFF\x24\x00\x00\x00AVI LIST", None),  # RIFF, but a video
        (b"\x89PNG\r\n\x1a\n", None),
        (b"hello, this is text", None),
        (b"{}", None),
    ],
)
def test_containers_are_known_by_their_magic_bytes(head: bytes, container: str | None) -> None:
    assert container_of(head) == container


@pytest.mark.parametrize(
    ("seconds", "rate", "channels", "width"),
    [(2.5, 16_000, 1, 2), (1.0, 44_100, 2, 2), (0.125, 8_000, 1, 1), (3.0, 48_000, 2, 3)],
)
def test_wav_duration_is_exact(seconds: float, rate: int, channels: int, width: int) -> None:
    assert wav_seconds(wav(seconds, rate, channels, width)) == Decimal(str(seconds))


def test_wav_duration_rounds_up_to_the_millisecond() -> None:
    # 1 frame at 3 kHz lasts 0.333... ms
    assert wav_seconds(wav(1 / 3000, rate=3000)) == Decimal("0.001")


def test_wav_chunks_before_fmt_and_data_are_skipped_with_padding() -> None:
    audio = riff(
        (b"LIST", b"INFOodd"),  # 7 bytes: a pad byte follows
        fmt_chunk(1, 1, 8000, 16000, 2, 16),
        (b"data", b"\x00" * 16000),
    )
    assert wav_seconds(audio) == Decimal("1.000")


def test_a_second_fmt_chunk_cannot_shorten_what_the_first_one_plays() -> None:
    """Decoders (ffmpeg) read the first `fmt `: a later one claiming 8 channels of 32 bits at 4 GHz
    must not make an hour of 8 kHz audio a millisecond."""
    audio = riff(
        fmt_chunk(1, 1, 8000, 8000, 1, 8),
        fmt_chunk(1, 8, 0xFFFFFFFF, 0xFFFFFFFF, 32, 32),
        (b"data", b"\x80" * 8000 * 60),
    )
    assert wav_seconds(audio) == Decimal("60.000")


@pytest.mark.parametrize("declared", [0, 0xFFFFFFFF, 10**6, 2])
def test_wav_counts_every_byte_from_the_data_to_the_end_whatever_size_it_declares(declared: int) -> None:
    """A streaming writer's 0 or 0xFFFFFFFF, a size past the end, or one smaller than the audio that
    follows: a decoder may play on, so the hold does."""
    audio = riff(fmt_chunk(1, 1, 8000, 16000, 2, 16)) + b"data" + struct.pack("<I", declared) + b"\x00" * 8000
    assert wav_seconds(audio) == Decimal("0.5")


@pytest.mark.parametrize(
    ("align", "bits", "seconds"),
    [(65_534, 16, "1.000"), (2, 64, "1.000"), (0, 16, "1.000"), (2, 0, "1.000"), (1, 16, "2.000")],
)
def test_a_pcm_frame_is_the_smaller_of_block_align_and_channels_by_width(align: int, bits: int, seconds: str) -> None:
    """A lying `block_align` (PCM decoders size frames by channels and bits) or sample width cannot
    shorten the hold: one second of 16-bit mono at 8 kHz is held as at least one second."""
    audio = riff(fmt_chunk(1, 1, 8000, 16000, align, bits), (b"data", b"\x00" * 16000))
    assert wav_seconds(audio) == Decimal(seconds)


def extensible(codec: int) -> tuple[bytes, bytes]:
    fields = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 8000, 16000, 2, 16, 22, 16, 4)
    return b"fmt ", fields + struct.pack("<H", codec) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def test_an_extensible_wav_is_read_by_the_codec_its_extension_names() -> None:
    assert wav_seconds(riff(extensible(0x0001), (b"data", b"\x00" * 16000))) == Decimal("1.000")
    compressed = riff(extensible(0x0055), (b"data", b"\x00" * 16000))  # MP3 inside
    assert wav_seconds(compressed) is None
    assert inspect(compressed).bound_seconds == size_bound(len(compressed))


def test_a_compressed_codec_in_a_wav_holds_the_size_bound_whatever_byte_rate_it_declares() -> None:
    """An IMA ADPCM WAV declaring a huge byte rate: its decoder plays the samples, not the rate."""
    audio = riff(fmt_chunk(0x0011, 1, 8000, 0xFFFFFFFF, 256, 4), (b"data", b"\x00" * 8110))
    assert wav_seconds(audio) is None
    info = inspect(audio)
    assert (info.seconds, info.bound_seconds) == (None, size_bound(len(audio)))
    assert info.estimated


@pytest.mark.parametrize(
    "audio",
    [
        b"RIFF\x24\x00\x00\x00WAVE",  # no chunks
        riff((b"data", b"\x00" * 100)),  # data before any fmt
        riff((b"fmt ", b"\x01\x00")),  # fmt too short
        riff(fmt_chunk(1, 1, 0, 16000, 2, 16), (b"data", b"\x00" * 10)),  # no sample rate
        riff(fmt_chunk(1, 1, 8000, 16000, 0, 0), (b"data", b"\x00" * 10)),  # no frame size
        riff(fmt_chunk(1, 1, 8000, 16000, 2, 16)),  # no data
    ],
)
def test_unreadable_wav_headers_are_refused(audio: bytes) -> None:
    for read in (wav_seconds, inspect):
        with pytest.raises(InvalidRequest) as raised:
            read(audio)
        assert raised.value.param == "file"


def test_flac_holds_the_size_bound_or_the_length_streaminfo_records_when_longer() -> None:
    """A decoder plays every frame whatever total STREAMINFO records, so a short one is not trusted."""
    assert flac_seconds(flac(16_000, 40_000)) == Decimal("2.5")
    assert flac_seconds(flac(44_100, 0)) is None  # the encoder did not record the length
    unrecorded = flac(44_100, 0) + b"\x00" * 7000
    short = flac(16_000, 1) + b"\x00" * 7000  # a count of one sample in front of ~9 s of frames
    for audio in (unrecorded, short):
        info = inspect(audio)
        assert (info.seconds, info.bound_seconds) == (None, size_bound(len(audio)))
        assert info.estimated
    long = flac(8_000, 8_000 * 3600)  # an hour of silence can be a small file
    assert inspect(long).bound_seconds == Decimal(3600)


def test_inspect_wav_is_exact_and_others_are_bounded_by_size() -> None:
    exact = inspect(wav(2.5))
    assert (exact.container, exact.seconds, exact.bound_seconds) == ("wav", Decimal("2.5"), Decimal("2.5"))
    assert not exact.estimated
    mp3 = mp3_of_size(BOUND_BYTES_PER_SECOND * 4)
    bounded = inspect(mp3)
    assert (bounded.container, bounded.seconds, bounded.bound_seconds) == ("mp3", None, Decimal(4))
    assert bounded.estimated


@pytest.mark.parametrize(("size", "seconds"), [(1, 1), (750, 1), (751, 2), (7500, 10), (10 * 1024 * 1024, 13_982)])
def test_size_bound_is_whole_seconds_at_six_kilobits(size: int, seconds: int) -> None:
    assert size_bound(size) == Decimal(seconds)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"plain text, no sound", "not an audio file")],
)
def test_empty_and_non_audio_files_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        inspect(content)
    assert message in raised.value.message
    assert raised.value.param == "file"


@pytest.mark.parametrize(
    ("answer", "seconds"),
    [
        ({"text": "hi", "duration": 2.5}, Decimal("2.5")),
        ({"text": "hi", "duration": 1.00001}, Decimal("1.001")),
        ({"text": "hi", "usage": {"type": "duration", "seconds": 3}}, Decimal(3)),
        ({"text": "hi", "segments": [{"start": 0, "end": 1.2}, {"start": 1.2, "end": 4.75}]}, Decimal("4.75")),
        ({"text": "hi", "duration": "2.5"}, None),
        ({"text": "hi", "duration": -1}, None),
        ({"text": "hi", "duration": True}, None),
        ({"text": "hi", "duration": float("nan")}, None),
        ({"text": "hi"}, None),
    ],
)
def test_reported_seconds(answer: dict[str, object], seconds: Decimal | None) -> None:
    assert reported_seconds(answer) == seconds


def test_an_mp3_is_its_frames_each_header_giving_the_next() -> None:
    played = inspect(EMPTY_ID3 + MP3_FRAME * 100)
    assert played.container == "mp3"
    assert played.bound_seconds == size_bound(len(EMPTY_ID3) + 100 * len(MP3_FRAME))  # above 100 x 1,152 / 44,100 s
    assert inspect(mp3_of_size(5000, tagged=False)).container == "mp3"


@pytest.mark.parametrize(
    "content",
    [
        EMPTY_ID3 + bytes(7000),  # a tag and nothing playable
        MP3_FRAME[:4] + bytes(7000),  # one header, then no frame where it says the next one is
        EMPTY_ID3 + MP3_FRAME * 2 + b"\xff\xf1\x50\x80" * 2000,  # two frames, then another codec's (ADTS)
        b"\xff" * 100_000,  # sync bytes, no frame
    ],
    ids=["tag-only", "lone-header", "frames-then-adts", "sync-bytes"],
)
def test_what_is_not_mpeg_frames_behind_an_mp3_start_is_refused(content: bytes) -> None:
    """AAC in ADTS frames plays ~90 bytes a second: behind an ID3 tag or an MPEG-looking header it
    would be held at MP3's size bound, a fraction of what a decoder plays."""
    with pytest.raises(InvalidRequest):
        inspect(content)


@pytest.mark.parametrize(
    ("format_", "codec", "rate"), [("mp3", "libmp3lame", 44100), ("mp3", "libmp3lame", 8000), ("mp2", "mp2", 44100)]
)
def test_real_mpeg_audio_from_ffmpegs_encoders_is_read_as_mp3(format_: str, codec: str, rate: int) -> None:
    """LAME's files (an ID3 tag, a Xing frame, then frames) and MPEG-1 layer II pass as they are."""
    kind = np.float32 if codec == "libmp3lame" else np.int16
    blocks = [np.zeros((1, 1152), dtype=kind) for _ in range(200)]
    encoded = muxed(format_, codec, rate, blocks, sample_format="fltp" if kind is np.float32 else "s16")
    assert inspect(encoded).container == "mp3"
