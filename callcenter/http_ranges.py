"""The one reader of HTTP `Range` headers in the project (RFC 9110 section 14).

Used by every place that serves bytes a client may seek in: the recordings file endpoint
and the local Twilio simulator's recording media. One range is answered (`bytes=a-b`,
`a-`, `-n`); several ranges or a malformed header are ignored, as RFC 9110 allows: the
caller serves the whole body with 200. No byte of the body in the range is 416.
"""

import re

_SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    pass


def parse_single_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte positions, inclusive, of the one range asked for; None to serve
    the whole body; RangeNotSatisfiable when no byte of the body is in the range."""
    if not header:
        return None
    match = _SINGLE_RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix_length = int(last)
        if suffix_length == 0 or size == 0:
            raise RangeNotSatisfiable()
        return max(0, size - suffix_length), size - 1
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable()
    end = size - 1 if last == "" else min(int(last), size - 1)
    return start, end
