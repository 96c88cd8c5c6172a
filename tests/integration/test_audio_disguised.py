"""AAC in ADTS frames (which the gateway refuses on its own) behind an ID3 tag, or behind four bytes
that look like an MPEG frame header, is no MP3: FFmpeg plays it as AAC, which codes 8 kHz audio in
~90 bytes a second, so MP3's size bound (750 bytes a second) would hold an eighth of what the
provider bills. It is refused before any credit or provider is touched."""

from __future__ import annotations

import io
import math
from decimal import Decimal

import av
import httpx
import numpy as np
import pytest

from tests.conftest import balance_of

SECOND_PRICE = Decimal("0.0001")  # test/whisper: credits per second of audio


def micro(seconds: Decimal) -> int:
    return math.ceil(SECOND_PRICE * 1_000_000 * seconds)


def adts_aac(seconds: int, rate: int = 8000) -> bytes:
    """AAC-LC in ADTS frames, as FFmpeg's own encoder writes it (silence, mono, 8 kHz)."""
    buffer = io.BytesIO()
    out = av.open(buffer, "w", format="adts")
    stream = out.add_stream("aac", rate=rate)
    stream.bit_rate = 8000
    stream.layout = "mono"
    pts = 0
    while pts < rate * seconds:
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, pts
        for packet in stream.encode(frame):
            out.mux(packet)
        pts += 1024
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return buffer.getvalue()


def played_seconds(content: bytes) -> float:
    """What FFmpeg (libavformat/libavcodec, as PyAV bundles them) plays of the file."""
    with av.open(io.BytesIO(content)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an empty ID3v2.4 tag
MPEG_LOOKALIKE = b"\xff\xfb\x90\x64" + b"\x00" * 400  # an MPEG-1 layer III header, then bytes FFmpeg skips


@pytest.mark.parametrize("prefix", [ID3, MPEG_LOOKALIKE], ids=["id3-tag", "mpeg-header"])
def test_aac_behind_an_id3_tag_or_an_mpeg_header_is_refused_as_no_mp3(gateway_url, upstream, make_tenant, prefix):
    tenant = make_tenant("10")
    audio = prefix + adts_aac(120)
    assert played_seconds(audio) > 119  # what FFmpeg plays of it: two minutes of AAC
    asked = len(upstream.requests)
    response = httpx.post(
        f"{gateway_url}/v1/audio/transcriptions",
        files={"file": ("memo.mp3", audio, "audio/mpeg")},
        data={"model": "test/whisper"},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "file"
    assert len(upstream.requests) == asked
    assert balance_of(tenant.account_id) == 10_000_000
