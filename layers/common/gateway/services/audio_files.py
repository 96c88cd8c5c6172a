"""What an uploaded audio file is (by its magic bytes, never its name) and how long it can last.

A transcription is priced per second, reserved before the upstream call, so the gateway needs the
duration before it has an answer:
  WAV   PCM: from the RIFF `fmt ` and `data` chunks, every byte from the data's start to the file's
        end counted as frames of channels x sample width (or `block_align` when smaller) at the
        sample rate: exact for an honest file, and a client's header cannot make it shorter than
        what a decoder plays (a decoder may ignore `block_align` and the declared data size);
        a compressed codec inside a WAV: the size bound below (its `byte_rate` is the client's word);
  other containers (MP3, Ogg, MP4/M4A, WebM, FLAC): an upper bound from the size, at
        BOUND_BYTES_PER_SECOND = 750 bytes per second (6 kbit/s, the floor of Opus, below MPEG
        audio's 8 kbit/s and AAC's lowest rates), rounded up to whole seconds; for FLAC, Ogg's Opus
        and Vorbis, MP4 and WebM, what their frames play when longer (services/audio_timing.py,
        audio_mp4.py, audio_webm.py; a FLAC's STREAMINFO too): silence takes a few bytes a second;
        an MP3 must be MPEG audio frames (audio_mpeg.py), else another codec could pass as one.
The bound is only held; the charge follows the upstream's reported `duration`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from gateway.errors import InvalidRequest
from gateway.services import audio_mp4, audio_mpeg, audio_timing, audio_webm

BOUND_BYTES_PER_SECOND = 750
MAX_SECONDS = 4 * 3600  # the longest a file may play (a FLAC's, Ogg's, MP4's or WebM's frames are read up to it)
MIN_BOUND_SECONDS = Decimal(1)
ACCEPTED = "wav, mp3, ogg/opus, flac, m4a/mp4, webm"
_PCM_TAGS = (0x0001, 0x0003)  # integer PCM, IEEE float
_EXTENSIBLE = 0xFFFE  # its codec is named in its `fmt ` extension


@dataclass(frozen=True)
class AudioInfo:
    container: str  # wav, mp3, ogg, flac, mp4, webm
    seconds: Decimal | None  # exact, from the header; None when the header does not say
    bound_seconds: Decimal  # what to reserve for: `seconds` when known, else the size bound

    @property
    def estimated(self) -> bool:
        return self.seconds is None


def inspect(content: bytes) -> AudioInfo:
    """Raises a 400 for an empty file, a file that is not audio, or a WAV whose header is unreadable."""
    if not content:
        raise InvalidRequest("The uploaded `file` is empty.", param="file")
    bound = size_bound(len(content))
    content = _after_id3(content)  # as FFmpeg probes: an ID3 tag may stand before any format
    container = container_of(content)
    if container is None:
        raise InvalidRequest(f"The uploaded `file` is not an audio file the gateway reads ({ACCEPTED}).", param="file")
    seconds = wav_seconds(content) if container == "wav" else None
    if seconds is not None:
        return AudioInfo(container, seconds, seconds)
    try:
        played = _played(container, content)
    except (audio_timing.Unmeasurable, LookupError, ValueError, ArithmeticError):
        played = None
    if played is None and container in _MEASURED:
        # A container this malformed, or with frames of a codec not measured, or more than any file this
        # size holds, is refused: its size bound would let a crafted file choose the cheaper bound.
        raise InvalidRequest(
            "The uploaded `file` could not be measured as audio (MP3 frames; FLAC; Opus or Vorbis in Ogg or WebM;"
            " MP4/M4A).",
            param="file",
        )
    if played is not None and played > MAX_SECONDS:
        raise InvalidRequest(f"The uploaded `file` plays longer than {MAX_SECONDS // 3600} hours.", param="file")
    return AudioInfo(container, None, max(bound, played) if played is not None else bound)


_MEASURED = ("flac", "ogg", "mp4", "webm", "mp3")
_DENSE_WAV_CODECS = (0x0002, 0x0006, 0x0007, 0x0011, 0x0031, 0x0055)  # ADPCM, A-law, mu-law, GSM, MP3


def _after_id3(content: bytes) -> bytes:
    """What follows a file's leading ID3v2 tags when it is a format other than MP3 (FFmpeg probes past
    such tags, so a FLAC or an Ogg behind one is read as what it is); else the file as it is."""
    rest = content[audio_mpeg.after_id3(content) :]
    return rest if container_of(rest) not in (None, "mp3") else content


def _played(container: str, content: bytes) -> Decimal | None:
    """What the frames of an MP3, FLAC, Ogg, MP4 or WebM file play at most; None for other containers."""
    if container == "flac":
        rate, _ = _streaminfo(content)
        return max(flac_seconds(content) or Decimal(0), audio_timing.flac_frames_seconds(content, rate, MAX_SECONDS))
    if container == "ogg":
        return audio_timing.ogg_seconds(content, MAX_SECONDS)
    if container == "mp4":
        return audio_mp4.mp4_seconds(content, MAX_SECONDS)
    if container == "webm":
        return audio_webm.webm_seconds(content, MAX_SECONDS)
    if container == "mp3":
        return audio_mpeg.mpeg_seconds(content)
    return None


def container_of(content: bytes) -> str | None:
    head = content[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or _mpeg_frame(head):
        return "mp3"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def _mpeg_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a known version, and a layer (ADTS AAC has layer 0)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer, bitrate = (head[1] >> 3) & 3, (head[1] >> 1) & 3, head[2] >> 4
    return version != 1 and layer != 0 and bitrate != 0xF and (head[2] >> 2) & 3 != 3


def wav_seconds(content: bytes) -> Decimal | None:
    """How long the PCM in a WAV can play, to the millisecond (rounded up); None for a compressed codec
    whose bytes a second never fall below the size bound's (ADPCM, A-law, mu-law, GSM, MP3). Raises a
    400 when the header is unreadable, or for another codec (FLAC or AAC inside: silence would play past
    the size bound)."""
    header = _wav_header(content)
    if header is None:
        raise InvalidRequest("The uploaded WAV file's header could not be read.", param="file")
    (tag, channels, sample_rate, _byte_rate, block_align, bits), subformat, data_bytes = header
    codec = subformat if tag == _EXTENSIBLE else tag
    if codec in _DENSE_WAV_CODECS:
        return None
    if codec not in _PCM_TAGS:
        message = f"The uploaded WAV file's codec (0x{codec or 0:04X}) is not one the gateway reads."
        raise InvalidRequest(message, param="file")
    widths = [width for width in (block_align, channels * -(-bits // 8)) if width > 0]
    if not widths or sample_rate <= 0:
        raise InvalidRequest("The uploaded WAV file's header could not be read.", param="file")
    seconds = Decimal(data_bytes // min(widths)) / Decimal(sample_rate)
    return audio_timing.rounded_up(seconds)


def _wav_header(content: bytes) -> tuple[tuple[int, int, int, int, int, int], int | None, int] | None:
    """(the `fmt ` fields, an extensible format's codec tag, the bytes from the data's start to the end)."""
    position = 12
    fmt: tuple[int, int, int, int, int, int] | None = None
    subformat: int | None = None
    while position + 8 <= len(content):
        chunk, size = content[position : position + 4], int.from_bytes(content[position + 4 : position + 8], "little")
        body = position + 8
        if chunk == b"fmt " and fmt is None:  # the first one, as decoders (ffmpeg) read it
            if size < 16 or body + 16 > len(content):
                return None
            fmt = struct.unpack_from("<HHIIHH", content, body)
            if size >= 26 and body + 26 <= len(content):  # WAVE_FORMAT_EXTENSIBLE: its codec's tag opens the GUID
                subformat = int.from_bytes(content[body + 24 : body + 26], "little")
        elif chunk == b"data":
            return None if fmt is None else (fmt, subformat, len(content) - body)
        position = body + size + (size & 1)
    return None


def flac_seconds(content: bytes) -> Decimal | None:
    """From STREAMINFO (the first metadata block): None when the total sample count is not recorded."""
    sample_rate, total_samples = _streaminfo(content)
    if sample_rate == 0 or total_samples == 0:
        return None
    return audio_timing.rounded_up(Decimal(total_samples) / Decimal(sample_rate))


def _streaminfo(content: bytes) -> tuple[int, int]:
    """(sample rate, total samples) STREAMINFO records; zeros when there is none."""
    if len(content) < 8 + 34 or content[4] & 0x7F != 0:
        return 0, 0
    packed = int.from_bytes(content[8 + 10 : 8 + 18], "big")  # rate:20 channels:3 bits:5 samples:36
    return packed >> 44, packed & ((1 << 36) - 1)


def size_bound(size: int) -> Decimal:
    """The longest a compressed file of `size` bytes plausibly plays, in whole seconds (at least 1)."""
    seconds = Decimal(size) / BOUND_BYTES_PER_SECOND
    return max(MIN_BOUND_SECONDS, seconds.to_integral_value(rounding=ROUND_CEILING))


def reported_seconds(answer: dict[str, object]) -> Decimal | None:
    """The duration an upstream's transcription answer reports: verbose_json's `duration`, else
    `usage.seconds` (newer models), else the end of the last segment."""
    candidates: list[object] = [answer.get("duration")]
    usage = answer.get("usage")
    if isinstance(usage, dict):
        candidates.append(usage.get("seconds"))
    segments = answer.get("segments")
    if isinstance(segments, list) and segments and isinstance(segments[-1], dict):
        candidates.append(segments[-1].get("end"))
    for value in candidates:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        seconds = Decimal(str(value))
        if seconds.is_finite() and seconds >= 0:
            return audio_timing.rounded_up(seconds)
    return None
