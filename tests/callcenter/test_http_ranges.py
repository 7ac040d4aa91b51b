"""The one Range header reader: recordings file serving and the simulator's media."""

import pytest

from callcenter.http_ranges import RangeNotSatisfiable, parse_single_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, (0, 4)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=8-20", 10, (8, 9)),
        ("bytes = 1-2", 10, (1, 2)),
        ("bytes=-", 10, None),
    ],
)
def test_parse_single_range(header, size, expected):
    assert parse_single_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-", 0)])
def test_parse_single_range_unsatisfiable(header, size):
    with pytest.raises(RangeNotSatisfiable):
        parse_single_range(header, size)
