"""Serving a downloaded recording: whole file, one Range, ETag revalidation, tenancy."""

import pytest

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def file_url(recording) -> str:
    return f"/api/recordings/file/{recording.call_sid}"


def test_full_get_streams_the_whole_file_with_validators(api, ready_recording, audio_bytes):
    response = api.get(file_url(ready_recording))
    assert response.status_code == 200
    assert response.streaming
    assert body(response) == audio_bytes
    assert response["Content-Type"] == "audio/wav"
    assert response["Content-Length"] == str(len(audio_bytes))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{ready_recording.checksum_sha256}"'
    assert "Last-Modified" in response


def test_range_returns_exactly_those_bytes(api, ready_recording, audio_bytes):
    response = api.get(file_url(ready_recording), HTTP_RANGE="bytes=1000-1999")
    assert response.status_code == 206
    assert body(response) == audio_bytes[1000:2000]
    assert response["Content-Range"] == f"bytes 1000-1999/{len(audio_bytes)}"
    assert response["Content-Length"] == "1000"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "audio/wav"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=40000-", 40000, None),
        ("bytes=-500", -500, None),
        ("bytes=0-0", 0, 1),
        ("bytes=47000-99999999", 47000, None),
    ],
)
def test_open_suffix_and_clipped_ranges(api, ready_recording, audio_bytes, header, start, end):
    response = api.get(file_url(ready_recording), HTTP_RANGE=header)
    assert response.status_code == 206
    expected = audio_bytes[start:end]
    assert body(response) == expected
    first = start if start >= 0 else len(audio_bytes) + start
    assert response["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(audio_bytes)}"


def test_range_past_the_end_is_416(api, ready_recording, audio_bytes):
    response = api.get(file_url(ready_recording), HTTP_RANGE=f"bytes={len(audio_bytes)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(audio_bytes)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=9-3", "items=0-1", "bytes=abc"])
def test_several_or_malformed_ranges_get_the_whole_file(api, ready_recording, audio_bytes, header):
    response = api.get(file_url(ready_recording), HTTP_RANGE=header)
    assert response.status_code == 200
    assert body(response) == audio_bytes


def test_if_none_match_is_304(api, ready_recording):
    etag = api.get(file_url(ready_recording))["ETag"]
    response = api.get(file_url(ready_recording), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""
    assert api.get(file_url(ready_recording), HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    assert api.get(file_url(ready_recording), HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_if_range_with_an_old_etag_gets_the_whole_file(api, ready_recording, audio_bytes):
    response = api.get(file_url(ready_recording), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"old"')
    assert response.status_code == 200 and body(response) == audio_bytes
    response = api.get(file_url(ready_recording), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=ready_recording.etag)
    assert response.status_code == 206 and body(response) == audio_bytes[:10]


def test_another_business_gets_404(other_api, ready_recording):
    assert other_api.get(file_url(ready_recording)).status_code == 404
    assert other_api.get(file_url(ready_recording), HTTP_RANGE="bytes=0-9").status_code == 404


def test_prepare_answers_ready_with_the_file_url(api, ready_recording):
    response = api.post(f"/api/recordings/{ready_recording.call_sid}/prepare")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "ready"
    path, query = data["url"].split("?")
    assert path == file_url(ready_recording)
    assert query.startswith(f"business_id={ready_recording.business_id}&expires=") and "&signature=" in query
    assert data["size"] == ready_recording.size_bytes and data["content_type"] == "audio/wav"
    assert api.get(data["url"], HTTP_RANGE="bytes=0-3").status_code == 206


def test_audio_element_accept_header_is_not_refused(api, ready_recording):
    response = api.get(file_url(ready_recording), HTTP_ACCEPT="audio/webm,audio/ogg,audio/*;q=0.9")
    assert response.status_code == 200
