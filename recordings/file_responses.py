"""Serving a stored recording the way browsers' audio elements expect.

Django's FileResponse streams a file but ignores `Range`; seeking in an <audio> element
needs it. We answer one byte range (`bytes=a-b`, `a-`, `-n`) with 206 and stream only
that slice, in blocks, from the open file: memory stays constant whatever the size. Under
gunicorn the slice still goes out through sendfile (the file is positioned at the range's
start and Content-Length bounds it). The header is read by callcenter.http_ranges: several
ranges or a malformed header give the whole file, 200; a range starting past the end, 416.
"""

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import http_date, parse_etags

from callcenter.http_ranges import RangeNotSatisfiable, parse_single_range
from recordings.models import Recording

BLOCK_SIZE = 64 * 1024


class _FileSlice:
    """A read-only view of `length` bytes of an open file from `start`.

    No tell/seek on purpose: FileResponse then leaves Content-Length to us. fileno() lets
    a WSGI server's file_wrapper use sendfile from the current position.
    """

    def __init__(self, file, *, start: int, length: int):
        file.seek(start)
        self._file = file
        self._remaining = length

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        size = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data = self._file.read(size)
        self._remaining -= len(data)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    wanted = parse_etags(header)
    if "*" in wanted:
        return True
    # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
    return etag in {tag.removeprefix("W/") for tag in wanted}


def recording_file_response(request: HttpRequest, recording: Recording) -> HttpResponse:
    """The recording's audio: 200 whole, 206 one range, 304 unchanged, 416 out of range."""
    size = recording.size_bytes or 0
    validators = {
        "ETag": recording.etag,
        "Last-Modified": http_date(recording.downloaded_at.timestamp()),
        "Accept-Ranges": "bytes",
        # Private: a tenant's call. no-cache: revalidate (cheap, thanks to the ETag).
        "Cache-Control": "private, no-cache",
    }
    if _etag_matches(request.headers.get("If-None-Match"), recording.etag):
        response = HttpResponseNotModified()
        for header, value in validators.items():
            response[header] = value
        return response

    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header and if_range and if_range.strip() != recording.etag:
        range_header = None  # the client's copy is outdated: send it the whole new file
    try:
        byte_range = parse_single_range(range_header, size)
    except RangeNotSatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response

    file = recording.file.storage.open(recording.file.name, "rb")
    content_type = recording.content_type or "application/octet-stream"
    if byte_range is None:
        response = FileResponse(file, content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        start, end = byte_range
        length = end - start + 1
        response = FileResponse(_FileSlice(file, start=start, length=length), status=206, content_type=content_type)
        response["Content-Length"] = str(length)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response.block_size = BLOCK_SIZE
    response["Content-Disposition"] = f'inline; filename="{recording.call_sid}.{_extension(recording)}"'
    for header, value in validators.items():
        response[header] = value
    return response


def _extension(recording: Recording) -> str:
    return recording.file.name.rsplit(".", 1)[-1] if "." in recording.file.name else "bin"
