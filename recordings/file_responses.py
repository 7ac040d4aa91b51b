"""Serving a stored recording the way browsers' audio elements expect.

Django's FileResponse streams a file but ignores `Range`; seeking in an <audio> element
needs it. We answer one byte range (`bytes=a-b`, `a-`, `-n`) with 206 and stream only
that slice, in blocks, from the open file: memory stays constant whatever the size. Under
gunicorn the slice still goes out through sendfile (the file is positioned at the range's
start and Content-Length bounds it). The header is read by callcenter.http_ranges: several
ranges or a malformed header give the whole file, 200; a range starting past the end, 416.

With RECORDING_FILE_DELIVERY set to x-accel-redirect (nginx) or x-sendfile, the same checks
run here and the front server sends the bytes (deploy/nginx/callcenter.conf hands it our ETag
and Last-Modified, so a matching If-Range is honoured as here); a Range this module sets aside
is answered by Django itself.
"""

from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import http_date, parse_etags

from callcenter.http_ranges import RangeNotSatisfiable, parse_single_range
from recordings.models import Recording

BLOCK_SIZE = 64 * 1024
# RECORDING_FILE_DELIVERY values that hand the file to the front server.
FRONT_SERVER_DELIVERIES = frozenset({"x-accel-redirect", "x-sendfile"})


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

    content_type = recording.content_type or "application/octet-stream"
    # The front server sends the file whole when no Range was asked for, or the one range
    # this module accepted. A Range set aside here (several ranges, malformed, an outdated
    # If-Range) is rare and streamed by Django, so no front server reads it differently.
    front_server = settings.RECORDING_FILE_DELIVERY in FRONT_SERVER_DELIVERIES
    if front_server and (byte_range is not None or not request.headers.get("Range")):
        return _front_server_response(recording, content_type=content_type, validators=validators)
    file = recording.file.storage.open(recording.file.name, "rb")
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


def _front_server_response(recording: Recording, *, content_type: str, validators: dict) -> HttpResponse:
    """Hand the bytes to the front server. Django has already answered 304 and 416 itself;
    the front server applies the Range (and If-Range against the ETag it is given), so the
    bytes, status and headers are those Django would have sent."""
    response = HttpResponse(content_type=content_type)
    if settings.RECORDING_FILE_DELIVERY == "x-accel-redirect":
        location = settings.RECORDING_ACCEL_REDIRECT_PREFIX.rstrip("/") + "/" + quote(recording.file.name)
        response["X-Accel-Redirect"] = location
    else:
        response["X-Sendfile"] = recording.file.storage.path(recording.file.name)
    response["Content-Disposition"] = f'inline; filename="{recording.call_sid}.{_extension(recording)}"'
    for header, value in validators.items():
        response[header] = value
    return response


def _extension(recording: Recording) -> str:
    return recording.file.name.rsplit(".", 1)[-1] if "." in recording.file.name else "bin"
