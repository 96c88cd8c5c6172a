"""MPEG audio (MP3): a file is taken as one only when its bytes are MPEG audio frames, each header
giving the next frame's place, as FFmpeg's probe and decoder find them. Four bytes that look like a
frame header (or an ID3 tag) before another codec's frames (AAC in ADTS, ~90 bytes a second at
8 kHz) would otherwise pass as MP3 and be held at MP3's size bound, a fraction of what it plays.

MPEG audio cannot be denser than 8 kbit/s (1,000 bytes a second), so the size bound (750 bytes a
second) covers every frame; what the frames play is returned all the same."""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_CEILING, Decimal

from gateway.services.audio_timing import Steps, Unmeasurable

MIN_COVERED = Decimal("0.9")  # of the bytes between the tags, at least this share must be frames
FIRST_FRAMES = 3  # consecutive frames where the leading tags end (FFmpeg's probe counts them there)
_TRAILING_SLACK = 10  # an ID3v2 footer
_APE_HAS_HEADER = 0x80000000
# kbit/s by bitrate index: MPEG-1 layers I, II, III; MPEG-2/2.5 layer I; MPEG-2/2.5 layers II and III
_V1 = {
    3: (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    2: (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
}
_V2 = {
    3: (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    1: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits


def frame_at(content: bytes, at: int) -> tuple[int, int, int] | None:
    """(length in bytes, samples, sample rate) of the MPEG audio frame whose header is at `at`; None
    when there is none (free-format frames, whose length no header gives, included)."""
    if at + 4 > len(content) or content[at] != 0xFF or content[at + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (content[at + 1] >> 3) & 3, (content[at + 1] >> 1) & 3
    index, rate_index, padding = content[at + 2] >> 4, (content[at + 2] >> 2) & 3, (content[at + 2] >> 1) & 1
    if version == 1 or layer == 0 or index in (0, 15) or rate_index == 3:
        return None
    bits_per_second = (_V1 if version == 3 else _V2)[layer][index] * 1000
    rate = _RATES[version][rate_index]
    if layer == 3:  # layer I: slots of 4 bytes
        return (12 * bits_per_second // rate + padding) * 4, 384, rate
    samples = 1152 if layer == 2 or version == 3 else 576
    return samples // 8 * bits_per_second // rate + padding, samples, rate


def mpeg_seconds(content: bytes) -> Decimal:
    """What the MPEG audio frames of a file play, to the millisecond (rounded up). Raises Unmeasurable
    when fewer than MIN_COVERED of its bytes (after its leading ID3 tags) are frames, or when they
    take more than audio_timing's MAX_STEPS to read."""
    start, end, steps = _after_tags(content), _before_tags(content), Steps()
    if not _frames_begin(content, start, end):  # as FFmpeg probes: another format may follow the tags
        raise Unmeasurable("no MPEG audio frames where the tags end")
    at, covered, played = start, 0, Counter[int]()
    while at < end:
        steps.take()
        frame = frame_at(content, at)
        if frame is not None and at + frame[0] <= end:
            length, samples, rate = frame
            covered, at = covered + length, at + length
            played[rate] += samples
        else:
            at = _resync(content, at + 1, end, steps)
    if not played or covered < MIN_COVERED * max(end - start - _TRAILING_SLACK, 1):
        raise Unmeasurable("not MPEG audio frames")
    seconds = sum((Decimal(samples) / rate for rate, samples in played.items()), Decimal(0))
    return seconds.quantize(Decimal("0.001"), rounding=ROUND_CEILING)


def after_id3(content: bytes) -> int:
    """Where a file's leading ID3v2 tags end (0 when it has none)."""
    at = 0
    while content[at : at + 3] == b"ID3" and at + 10 <= len(content):
        size = 0
        for byte in content[at + 6 : at + 10]:  # syncsafe: 7 bits a byte
            size = size << 7 | byte & 0x7F
        at += 10 + size + (10 if content[at + 5] & 0x10 else 0)
    return at


def _after_tags(content: bytes) -> int:
    """Where the frames start: after any leading ID3v2 tags and the zero bytes padding them."""
    at = after_id3(content)
    while at < len(content) and content[at] == 0:
        at += 1
    return at


def _before_tags(content: bytes) -> int:
    """Where the frames end: before a trailing APEv2 tag (ReplayGain, covers) and an ID3v1 tag."""
    end = len(content)
    if content[end - 128 : end - 125] == b"TAG":
        end -= 128
    if end >= 32 and content[end - 32 : end - 24] == b"APETAGEX":
        size = int.from_bytes(content[end - 20 : end - 16], "little")  # its items and footer
        flags = int.from_bytes(content[end - 12 : end - 8], "little")
        end -= size + (32 if flags & _APE_HAS_HEADER else 0)
    return max(end, 0)


def _frames_begin(content: bytes, at: int, end: int) -> bool:
    """FIRST_FRAMES frames, each where the last one ends, from `at` (fewer when the file ends first)."""
    for _ in range(FIRST_FRAMES):
        if at >= end:
            return True
        frame = frame_at(content, at)
        if frame is None:
            return False
        at += frame[0]
    return True


def _resync(content: bytes, at: int, end: int, steps: Steps) -> int:
    """The next frame header before `end` that another frame follows (as a decoder resyncs); `end` when
    none. Reads `content` in place: a copy per resync would cost a hostile file's size each time."""
    while (at := content.find(b"\xff", at, end)) != -1:
        steps.take()
        frame = frame_at(content, at)
        if frame is not None and at + frame[0] <= end:
            following = at + frame[0]
            if following == end or (following + 4 <= end and frame_at(content, following) is not None):
                return at
        at += 1
    return end
