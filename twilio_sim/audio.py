"""Recording media made of real audio, generated on the fly for any byte range.

WAV: 8 kHz 16-bit mono PCM (a 400 Hz tone), the format of a phone call. MP3: MPEG-1
Layer III frames (128 kbit/s, 44.1 kHz, mono) carrying silence. Both are a fixed header
followed by a repeating block, so any range is computed without holding the file.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator

WAV_SAMPLE_RATE = 8000
WAV_BYTES_PER_SECOND = WAV_SAMPLE_RATE * 2
WAV_HEADER_SIZE = 44
_TONE_HZ = 400
_WAV_PERIOD = b"".join(
    struct.pack("<h", round(8000 * math.sin(2 * math.pi * _TONE_HZ * i / WAV_SAMPLE_RATE)))
    for i in range(WAV_SAMPLE_RATE // _TONE_HZ)
)

# MPEG-1 Layer III, no CRC, 128 kbit/s, 44.1 kHz, no padding, mono: 144 * 128000 / 44100 bytes.
MP3_FRAME_SIZE = 417
MP3_BYTES_PER_SECOND = 128_000 // 8
_MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0xC0]) + bytes(MP3_FRAME_SIZE - 4)

CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}


def _wav_header(data_size: int) -> bytes:
    return b"".join(
        [
            b"RIFF",
            struct.pack("<I", 36 + data_size),
            b"WAVE",
            b"fmt ",
            struct.pack("<IHHIIHH", 16, 1, 1, WAV_SAMPLE_RATE, WAV_BYTES_PER_SECOND, 2, 16),
            b"data",
            struct.pack("<I", data_size),
        ]
    )


class SyntheticAudio:
    def __init__(self, fmt: str, *, duration_seconds: float, size_bytes: int | None = None):
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"unsupported format {fmt!r}")
        self.fmt = fmt
        self.content_type = CONTENT_TYPES[fmt]
        if fmt == "wav":
            data_size = (size_bytes - WAV_HEADER_SIZE) if size_bytes else int(duration_seconds * WAV_BYTES_PER_SECOND)
            data_size = max(data_size - data_size % 2, 2)
            self._header = _wav_header(data_size)
            self._block = _WAV_PERIOD
            self.size = WAV_HEADER_SIZE + data_size
        else:
            wanted = size_bytes or int(duration_seconds * MP3_BYTES_PER_SECOND)
            frames = max(wanted // MP3_FRAME_SIZE, 1)
            self._header = b""
            self._block = _MP3_FRAME
            self.size = frames * MP3_FRAME_SIZE

    def iter_range(self, start: int, end: int, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Bytes ``start``..``end`` inclusive, ``chunk_size`` at a time."""
        position = start
        header_size = len(self._header)
        block_size = len(self._block)
        # A buffer of whole blocks big enough for one chunk at any alignment.
        repeated = self._block * (chunk_size // block_size + 2)
        while position <= end:
            length = min(chunk_size, end - position + 1)
            if position < header_size:
                chunk = self._header[position : min(header_size, position + length)]
            else:
                offset = (position - header_size) % block_size
                chunk = repeated[offset : offset + length]
            yield chunk
            position += len(chunk)

    def read_all(self) -> bytes:
        return b"".join(self.iter_range(0, self.size - 1))
