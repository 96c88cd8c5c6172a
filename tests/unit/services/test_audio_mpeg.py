"""MPEG audio frames: what passes as an MP3 is frames from where its leading tags end, up to its
trailing tags (APEv2, ID3v1), as FFmpeg's probe and players read it. Another format behind an ID3 tag
(FFmpeg probes past it) is refused even when its data are MPEG frames: a Sony Wave64 of 8-bit PCM at
100 Hz plays every byte as a sample, 7.5 times longer than MP3's size bound."""

from __future__ import annotations

import io
import struct
from decimal import Decimal

import av
import numpy as np
import pytest

from gateway.errors import InvalidRequest
from gateway.services.audio_files import inspect
from tests.support.audio_encodes import EMPTY_ID3, MP3_FRAME, muxed, played_seconds


def w64_pcm(payload: bytes, rate: int) -> bytes:
    """A W64 file (FFmpeg's muxer) whose unsigned 8-bit PCM samples are `payload`'s bytes."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="w64") as muxer:
        stream = muxer.add_stream("pcm_u8", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(payload, dtype=np.uint8).reshape(1, -1), format="u8", layout="mono"
        )
        frame.sample_rate, frame.pts = rate, 0
        for packet in stream.encode(frame):
            muxer.mux(packet)
        for packet in stream.encode(None):
            muxer.mux(packet)
    return out.getvalue()


def disguised(frames: int = 2400, rate: int = 100) -> bytes:
    return EMPTY_ID3 + w64_pcm(MP3_FRAME * frames, rate)


def lame(seconds: int, rate: int = 16_000) -> bytes:
    blocks = [np.zeros((1, 1152), dtype=np.float32) for _ in range(seconds * rate // 1152)]
    return muxed("mp3", "libmp3lame", rate, blocks, sample_format="fltp")  # LAME: ID3, Xing frame, frames


def apev2(items: dict[str, bytes]) -> bytes:
    """An APEv2 tag with header and footer, as taggers append it."""
    body = b"".join(struct.pack("<II", len(value), 0) + key.encode() + b"\x00" + value for key, value in items.items())
    size = len(body) + 32

    def frame(flags: int) -> bytes:
        return b"APETAGEX" + struct.pack("<IIII", 2000, size, len(items), flags) + bytes(8)

    return frame(0xA0000000) + body + frame(0x80000000)


def test_pcm_in_w64_behind_an_id3_tag_is_refused_though_its_samples_are_mpeg_frames() -> None:
    audio = EMPTY_ID3 + w64_pcm(MP3_FRAME * 2400, 100)
    assert Decimal(str(played_seconds(audio))) > 10_000  # FFmpeg: W64, 1,000,800 samples at 100 Hz
    with pytest.raises(InvalidRequest):
        inspect(audio)


def test_an_mp3_with_an_apev2_tag_and_an_id3v1_tag_after_its_frames_is_an_mp3() -> None:
    cover = b"front.jpg\x00" + bytes(30_000)
    audio = lame(60) + apev2({"REPLAYGAIN_TRACK_GAIN": b"-6.5 dB", "Cover Art (Front)": cover})
    assert played_seconds(audio) > 59.9  # FFmpeg plays it
    assert inspect(audio).container == "mp3"
    assert inspect(audio + b"TAG" + bytes(125)).container == "mp3"
