"""Recording media: real audio of the recorded length, one byte range, at a throttled rate."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from callcenter.http_ranges import RangeNotSatisfiable, parse_single_range
from twilio_sim.audio import SyntheticAudio
from twilio_sim.state import SimRecording

if TYPE_CHECKING:
    from twilio_sim.httpd import SimRequestHandler

CHUNK_SIZE = 64 * 1024


def send_media(request: SimRequestHandler, recording: SimRecording, fmt: str) -> None:
    engine = request.engine
    config = engine.config
    audio = SyntheticAudio(fmt, duration_seconds=recording.duration, size_bytes=config.recording_size_bytes)
    try:
        byte_range = parse_single_range(request.headers.get("Range"), audio.size)
    except RangeNotSatisfiable:
        request.send_response(416)
        request.send_header("Content-Range", f"bytes */{audio.size}")
        request.send_header("Content-Length", "0")
        request.end_headers()
        return
    start, end = byte_range or (0, audio.size - 1)
    request.send_response(200 if byte_range is None else 206)
    request.send_header("Content-Type", audio.content_type)
    request.send_header("Content-Length", str(end - start + 1))
    request.send_header("Accept-Ranges", "bytes")
    if byte_range is not None:
        request.send_header("Content-Range", f"bytes {start}-{end}/{audio.size}")
    request.end_headers()
    if request.command == "HEAD":
        return
    rate = config.recording_bytes_per_second
    chunk_size = max(min(CHUNK_SIZE, int(rate / 10)), 1) if rate else CHUNK_SIZE
    began = time.monotonic()
    sent = 0
    for chunk in audio.iter_range(start, end, chunk_size=chunk_size):
        if rate:
            # Throttle: a chunk leaves only once the average rate allows all bytes up to its end.
            wait = ((sent + len(chunk)) / rate) - (time.monotonic() - began)
            if wait > 0 and engine.stop_event.wait(wait):
                return
        request.wfile.write(chunk)
        sent += len(chunk)
