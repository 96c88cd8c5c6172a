"""How long compressed audio plays, read from its frames as a decoder finds them, not from its size:
codecs encode silence in a few bytes a second, so a file's size does not bound its length.

- FLAC: every frame header a decoder accepts (the sync code, valid fields, its CRC-8), each its block
  size of samples at the lower of its own sample rate and STREAMINFO's. A frame's data may happen to
  hold a header-like run that passes too: counted, the bound only grows.
- Ogg: every packet of each Opus or Vorbis stream, at its longest: an Opus packet's frames as its TOC
  byte gives them (an empty packet, which a decoder conceals, at 120 ms), a Vorbis packet at half its
  long block. Streams of other codecs are not measured (None).
Both are upper bounds of what a decoder plays; the charge still follows the upstream's report. Both
stop reading once past `ceiling` seconds (the longest file the gateway takes): a few megabytes of
silence can hold millions of frames.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal

MILLISECOND = Decimal("0.001")
_FLAC_SYNC = re.compile(rb"\xff[\xf8\xf9]")
_FLAC_RATES = (0, 88_200, 176_400, 192_000, 8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000)
_OPUS_MAX_PACKET_HALF_MS = 240  # 120 ms
_OPUS_HEADERS, _VORBIS_HEADERS = 2, 3  # packets before the audio: OpusHead, OpusTags; three Vorbis headers


def flac_frames_seconds(content: bytes, streaminfo_rate: int, ceiling: float = float("inf")) -> Decimal:
    """The length of every FLAC frame a decoder can find in `content` (0 when none)."""
    samples_at: dict[int, int] = {}  # sample rate -> samples: exact sums
    seconds = 0.0  # their running total, for the ceiling only
    for match in _FLAC_SYNC.finditer(content):
        frame = _flac_frame(content, match.start())
        if frame is not None:
            samples, rate = frame
            rates = [r for r in (rate, streaminfo_rate) if r > 0]
            if rates:
                samples_at[min(rates)] = samples_at.get(min(rates), 0) + samples
                seconds += samples / min(rates)
                if seconds > ceiling:
                    return _past(ceiling)
    return rounded_up(sum((Decimal(samples) / rate for rate, samples in samples_at.items()), Decimal(0)))


def rounded_up(seconds: Decimal) -> Decimal:
    return seconds.quantize(MILLISECOND, rounding=ROUND_CEILING)


def _past(ceiling: float) -> Decimal:
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
                return _past(ceiling)
    if all(stream.codec is None for stream in streams.values()):
        return None
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
        return cls(None)

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


def _ogg_packets(content: bytes) -> list[tuple[int, bytes]]:
    """(stream serial, packet) of every packet completed in `content`, pages found as libogg finds them
    (a page that is not where the last one ended is searched for)."""
    packets: list[tuple[int, bytes]] = []
    pending: dict[int, bytearray] = {}
    position = content.find(b"OggS")
    while position >= 0 and position + 27 <= len(content):
        segments = content[position + 26]
        table = content[position + 27 : position + 27 + segments]
        body = position + 27 + segments
        if len(table) < segments or body + sum(table) > len(content):
            break
        serial = int.from_bytes(content[position + 14 : position + 18], "little")
        if not content[position + 5] & 0x01:  # not a continuation: a packet left open is dropped
            pending.pop(serial, None)
        data = pending.setdefault(serial, bytearray())
        for lacing in table:
            data += content[body : body + lacing]
            body += lacing
            if lacing < 255:
                packets.append((serial, bytes(data)))
                data = pending[serial] = bytearray()
        position = body if content.startswith(b"OggS", body) else content.find(b"OggS", body)
    return packets
