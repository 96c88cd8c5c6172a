"""How long compressed audio plays, read from its frames as a decoder finds them, not from its size:
codecs encode silence in a few bytes a second, so a file's size does not bound its length.

- FLAC: every frame header a decoder accepts (the sync code, valid fields, its CRC-8), each its block
  size of samples at the lower of its own sample rate and STREAMINFO's. A frame's data may happen to
  hold a header-like run that passes too: counted, the bound only grows.
- Ogg: every packet of each Opus or Vorbis stream, at its longest: an Opus packet's frames as its TOC
  byte gives them (an empty packet, which a decoder conceals, at 120 ms), a Vorbis packet at half its
  long block; pages checked by their CRC, as libogg does. A stream of another audio codec is
  Unmeasurable (the file is refused); one of video or metadata is passed over.
Both are upper bounds of what a decoder plays; the charge still follows the upstream's report. Both
stop reading once past `ceiling` seconds (the longest file the gateway takes): a few megabytes of
silence can hold millions of frames.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal

MILLISECOND = Decimal("0.001")
# The most frames, packets or boxes read from one file: an honest 10 MB file holds a few hundred
# thousand; more is a file built to make its reading slow (Unmeasurable: the upload is refused).
MAX_STEPS = 1_000_000
MAX_FLAC_CANDIDATES = 250_000  # frame syncs looked at: a frame header is checked in Python


class Unmeasurable(Exception):
    """A file whose frames cannot be counted within MAX_STEPS, or of a codec not measured."""


class Steps:
    def __init__(self, most: int = MAX_STEPS) -> None:
        self.left = most

    def take(self, count: int = 1) -> None:
        self.left -= count
        if self.left < 0:
            raise Unmeasurable


_FLAC_SYNC = re.compile(rb"\xff[\xf8\xf9]")
_FLAC_RATES = (0, 88_200, 176_400, 192_000, 8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000)
_OPUS_MAX_PACKET_HALF_MS = 240  # 120 ms
_OPUS_HEADERS, _VORBIS_HEADERS = 2, 3  # packets before the audio: OpusHead, OpusTags; three Vorbis headers


def flac_frames_seconds(content: bytes, streaminfo_rate: int, ceiling: float = float("inf")) -> Decimal:
    """The length of every FLAC frame a decoder can find in `content` (0 when none)."""
    samples_at: dict[int, int] = {}  # sample rate -> samples: exact sums
    seconds = 0.0  # their running total, for the ceiling only
    steps = Steps(MAX_FLAC_CANDIDATES)
    for match in _FLAC_SYNC.finditer(content):
        steps.take()
        frame = _flac_frame(content, match.start())
        if frame is not None:
            samples, rate = frame
            rates = [r for r in (rate, streaminfo_rate) if r > 0]
            if rates:
                samples_at[min(rates)] = samples_at.get(min(rates), 0) + samples
                seconds += samples / min(rates)
                if seconds > ceiling:
                    return past(ceiling)
    return rounded_up(sum((Decimal(samples) / rate for rate, samples in samples_at.items()), Decimal(0)))


def rounded_up(seconds: Decimal) -> Decimal:
    return seconds.quantize(MILLISECOND, rounding=ROUND_CEILING)


def past(ceiling: float) -> Decimal:
    """What a file read no further than `ceiling` is said to play: more than that."""
    return Decimal(ceiling) + MILLISECOND


def _flac_frame(content: bytes, start: int) -> tuple[int, int] | None:
    """(block size in samples, sample rate or 0 for STREAMINFO's) of a valid frame header at `start`."""
    header = content[start : start + 16]
    if len(header) < 6:
        return None
    size_code, rate_code = header[2] >> 4, header[2] & 0x0F
    channels, depth = header[3] >> 4, (header[3] >> 1) & 0x07
    if size_code == 0 or rate_code == 15 or channels > 10 or depth == 3 or header[3] & 1:
        return None
    position = _coded_number_end(header, 4)
    if position is None:
        return None
    extra_size, extra_rate = {6: 1, 7: 2}.get(size_code, 0), {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    end = position + extra_size + extra_rate
    if end >= len(header) or _crc8(header[:end]) != header[end]:
        return None
    if size_code == 1:
        samples = 192
    elif size_code <= 5:
        samples = 576 << (size_code - 2)
    elif size_code <= 7:
        samples = int.from_bytes(header[position : position + extra_size], "big") + 1
    else:
        samples = 256 << (size_code - 8)
    rate_bytes = int.from_bytes(header[position + extra_size : end], "big")
    rate = _FLAC_RATES[rate_code] if rate_code < 12 else {12: 1000, 13: 1, 14: 10}[rate_code] * rate_bytes
    return samples, rate


def _coded_number_end(header: bytes, position: int) -> int | None:
    """Where the UTF-8-like coded frame or sample number starting at `position` ends: its first byte's
    leading ones give its length (none: one byte; 2 to 7), its other bytes are 10xxxxxx."""
    first = header[position]
    ones = next((n for n in range(8) if not first & (0x80 >> n)), 8)
    length = 1 if ones == 0 else ones if 2 <= ones <= 7 else 0
    if length == 0 or position + length > len(header):
        return None
    if any(byte & 0xC0 != 0x80 for byte in header[position + 1 : position + length]):
        return None
    return position + length


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()  # FLAC's frame header check: polynomial x^8 + x^2 + x + 1


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def ogg_seconds(content: bytes, ceiling: float = float("inf")) -> Decimal | None:
    """The longest the Opus and Vorbis streams in an Ogg file play; None when it has neither."""
    streams: dict[int, _OggStream] = {}
    total = 0.0  # the running total, for the ceiling only
    for serial, packet in _ogg_packets(content):
        stream = streams.get(serial)
        if stream is None:
            stream = streams[serial] = _OggStream.opening(packet)
        else:
            total += stream.add(packet)
            if total > ceiling:
                return past(ceiling)
    if all(stream.codec is None for stream in streams.values()):
        return None  # no audio
    return rounded_up(sum((stream.seconds() for stream in streams.values()), Decimal(0)))


class _OggStream:
    def __init__(self, codec: str | None, rate: int = 0, packet_samples: int = 0, headers: int = 0) -> None:
        self.codec = codec
        self._rate, self._packet_samples = rate, packet_samples  # Vorbis: the most samples a packet plays
        self._headers_left = headers
        self._units = 0  # Opus: half milliseconds; Vorbis: packets with audio

    def seconds(self) -> Decimal:
        if self.codec == "opus":
            return Decimal(self._units) / 2000
        if self.codec == "vorbis":
            return Decimal(self._units * self._packet_samples) / self._rate
        return Decimal(0)

    @classmethod
    def opening(cls, packet: bytes) -> _OggStream:
        if packet.startswith(b"OpusHead"):
            return cls("opus", headers=_OPUS_HEADERS - 1)
        rate, samples = vorbis_packet_samples(packet)
        if rate > 0:
            return cls("vorbis", rate, samples, _VORBIS_HEADERS - 1)
        if packet.startswith(_OGG_NOT_AUDIO):
            return cls(None)
        raise Unmeasurable  # audio of another codec (FLAC, Speex): silence there would go uncounted

    def add(self, packet: bytes) -> float:
        """The seconds `packet` plays at the most."""
        if self.codec is None:
            return 0.0
        if self._headers_left:
            self._headers_left -= 1
            return 0.0
        if self.codec == "opus":
            half_ms = opus_packet_half_ms(packet)
            self._units += half_ms
            return half_ms / 2000
        if not packet:
            return 0.0
        self._units += 1
        return self._packet_samples / self._rate


def vorbis_packet_samples(identification: bytes) -> tuple[int, int]:
    """(sample rate, the most samples one packet plays: half the long block) from a Vorbis stream's
    identification header; (0, 0) when it is not one."""
    if not identification.startswith(b"\x01vorbis") or len(identification) < 29:
        return 0, 0
    return int.from_bytes(identification[12:16], "little"), (1 << (identification[28] >> 4)) // 2


def opus_packet_half_ms(packet: bytes) -> int:
    """How long an Opus packet plays, in half milliseconds, from its TOC byte."""
    if not packet:
        return _OPUS_MAX_PACKET_HALF_MS  # a lost packet: concealed at up to the longest a packet plays
    config, code = packet[0] >> 3, packet[0] & 3
    if config < 12:
        frame = (20, 40, 80, 120)[config % 4]
    elif config < 16:
        frame = (20, 40)[config % 2]
    else:
        frame = (5, 10, 20, 40)[config % 4]
    frames = 1 if code == 0 else 2 if code < 3 else (packet[1] & 0x3F if len(packet) > 1 else 0)
    return frame * frames


_OGG_NOT_AUDIO = (b"\x80theora", b"fishead\x00", b"fisbone\x00", b"\x80kate", b"OVP80")
_BITS_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def _ogg_crc(content: bytes, start: int, end: int) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, the checksum field as zeros),
    computed by zlib's reflected CRC-32 over the bytes with their bits reversed."""
    page = content[start : start + 22] + b"\x00\x00\x00\x00" + content[start + 26 : end]
    reflected = ~zlib.crc32(page.translate(_BITS_REVERSED), 0xFFFFFFFF) & 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def _ogg_packets(content: bytes) -> Iterator[tuple[int, bytes]]:
    """(stream serial, packet) of every packet completed in `content`, pages found as libogg finds them
    (a page that is not where the last one ended is searched for)."""
    steps = Steps()
    pending: dict[int, bytearray] = {}
    checked, most = 0, 2 * len(content) + 65_536  # bytes checksummed: an honest file's each once
    position = content.find(b"OggS")
    while position >= 0 and position + 27 <= len(content):
        segments = content[position + 26]
        table = content[position + 27 : position + 27 + segments]
        body = position + 27 + segments
        end = body + sum(table)
        checked += end - position
        if checked > most:  # candidate pages overlapping each other, made to be checksummed over and over
            raise Unmeasurable
        written = int.from_bytes(content[position + 22 : position + 26], "little")
        if len(table) < segments or end > len(content) or _ogg_crc(content, position, end) != written:
            position = content.find(b"OggS", position + 1)  # not a whole page: searched on, as libogg does
            continue
        steps.take()
        serial = int.from_bytes(content[position + 14 : position + 18], "little")
        if not content[position + 5] & 0x01:  # not a continuation: a packet left open is dropped
            pending.pop(serial, None)
        data = pending.setdefault(serial, bytearray())
        steps.take(1 + segments)
        for lacing in table:
            data += content[body : body + lacing]
            body += lacing
            if lacing < 255:
                yield serial, bytes(data)
                data = pending[serial] = bytearray()
        position = body if content.startswith(b"OggS", body) else content.find(b"OggS", body)
