"""Real audio encodes for the audio readers' tests: FFmpeg's encoders and muxers through PyAV."""

from __future__ import annotations

import io
from collections.abc import Iterable

import av
import numpy as np


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


def played_seconds(audio: bytes) -> float:
    """How long FFmpeg's decoders play `audio`'s first audio stream."""
    with av.open(io.BytesIO(audio)) as source:
        return sum(frame.samples / frame.sample_rate for frame in source.decode(audio=0))


def aac_packets(seconds: int, rate: int) -> list[bytes]:
    """Raw AAC LC frames (no ADTS headers) of mono silence, as FFmpeg's encoder makes them."""
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format = rate, "mono", "fltp"
    encoder.open()
    packets: list[bytes] = []
    for index in range(seconds * rate // 1024):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype="float32"), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, index * 1024
        packets += [bytes(packet) for packet in encoder.encode(frame)]
    return packets + [bytes(packet) for packet in encoder.encode(None)]


MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(413)  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417 bytes, 1,152 samples
EMPTY_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an empty ID3v2.4 tag


SMALL_MP3_FRAME = b"\xff\xfb\x10\x64" + bytes(100)  # MPEG-1 layer III, 32 kbit/s, 44.1 kHz: 104 bytes


def mp3_of_size(size: int, *, tagged: bool = True) -> bytes:
    """`size` bytes of MP3: an empty ID3 tag (when `tagged`), as many small silent frames as fit, zeros
    after them (fewer than a frame's 104 bytes: the frames cover at least 90% of a file of 1 KB)."""
    head = EMPTY_ID3 if tagged else b""
    frames = SMALL_MP3_FRAME * ((size - len(head)) // len(SMALL_MP3_FRAME))
    return (head + frames).ljust(size, b"\x00")
