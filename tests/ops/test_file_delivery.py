"""Front-server delivery at the Django end: the same checks, then only headers; 413 limit."""

import pytest

pytestmark = pytest.mark.django_db


def file_url(recording) -> str:
    return f"/api/recordings/file/{recording.call_sid}"


@pytest.mark.parametrize(
    ("delivery", "header"), [("x-accel-redirect", "X-Accel-Redirect"), ("x-sendfile", "X-Sendfile")]
)
def test_front_server_gets_the_file_after_the_checks(api, other_api, ready_recording, settings, delivery, header):
    settings.RECORDING_FILE_DELIVERY = delivery
    response = api.get(file_url(ready_recording), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200 and response.content == b""
    assert api.get(file_url(ready_recording))[header]
    if delivery == "x-accel-redirect":
        assert response[header] == f"/_protected_media/{ready_recording.file.name}"
    else:
        assert response[header] == ready_recording.file.path
    assert response["ETag"] == ready_recording.etag
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private, no-cache"
    # Decided by Django before any hand-over, exactly as when it streams.
    not_modified = api.get(file_url(ready_recording), HTTP_IF_NONE_MATCH=ready_recording.etag)
    assert not_modified.status_code == 304 and header not in not_modified
    past = api.get(file_url(ready_recording), HTTP_RANGE=f"bytes={ready_recording.size_bytes}-")
    assert past.status_code == 416 and header not in past
    assert other_api.get(file_url(ready_recording)).status_code == 404
    # A Range set aside (several ranges, an outdated If-Range): Django streams the whole file.
    several = api.get(file_url(ready_recording), HTTP_RANGE="bytes=0-1,5-6")
    assert several.status_code == 200 and header not in several and several.streaming
    outdated = api.get(file_url(ready_recording), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"old"')
    assert outdated.status_code == 200 and header not in outdated


def test_a_body_over_the_limit_is_413_before_anything_reads_it(api, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    response = api.post("/api/leads/import", data=b"x" * 1001, content_type="text/csv")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert "גדולה מדי" in response.json()["error"]  # Hebrew, the default language
