"""The download task against the local Twilio simulator (and a scripted gateway for the
faults the simulator does not make): streamed to storage, verified, retried, failed clearly."""

import contextlib
import hashlib
from datetime import timedelta

import pytest
import requests
from django.utils import timezone, translation
from django_q.models import Schedule

from callcenter import twilio_gateway
from callcenter.twilio_gateway import PermanentTwilioError, RecordingMedia, RetryableTwilioError
from recordings import downloads, services
from recordings.models import Recording, RecordingRun
from tests.plugins.recordings import recording_create

pytestmark = pytest.mark.django_db
Status = RecordingRun.Status


@pytest.fixture(autouse=True)
def english():
    # Messages are stored in the active language (Hebrew by default); these tests read English.
    with translation.override("en"):
        yield


def start_run(recording: Recording) -> RecordingRun:
    return services.recording_run_start(recording=recording)


def sim_media(twilio_sim, recording_sid: str, fmt: str = "mp3") -> bytes:
    url = twilio_gateway.recording_media_url(recording_sid=recording_sid, fmt=fmt)
    response = requests.get(url, auth=(twilio_sim.config.account_sid, twilio_sim.config.auth_token), timeout=10)
    response.raise_for_status()
    return response.content


@pytest.fixture
def execute(django_capture_on_commit_callbacks):
    """Run the download task as a worker would: its on-commit work (scheduling a retry) happens."""

    def run_task(run: RecordingRun):
        with django_capture_on_commit_callbacks(execute=True):
            return downloads.recording_run_execute(run_id=run.pk)

    return run_task


def partial_files(media_root) -> list:
    return list(media_root.rglob("*.part"))


def scripted_gateway(monkeypatch, *outcomes):
    """Each fetch takes the next outcome: an exception to raise, or (content_length, chunks)."""
    pending = list(outcomes)

    @contextlib.contextmanager
    def recording_media(*, recording_sid, fmt="mp3", chunk_size=65536):
        outcome = pending.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        content_length, chunks = outcome
        yield RecordingMedia(content_type="audio/mpeg", content_length=content_length, chunks=iter(chunks))

    monkeypatch.setattr(twilio_gateway, "recording_media", recording_media)
    return pending


def test_download_streams_into_storage_and_verifies(execute, business, media_root, twilio_sim, sim_recorded_call):
    call_sid, recording_sid = sim_recorded_call
    recording = recording_create(business=business, call_sid=call_sid, recording_sid=recording_sid)
    run = start_run(recording)

    assert execute(run) == Status.SUCCEEDED

    expected = sim_media(twilio_sim, recording_sid)
    recording.refresh_from_db()
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED and run.attempts == 1 and run.finished_at is not None
    assert recording.is_ready
    assert recording.file.name == f"recordings/{business.pk}/{call_sid}.mp3"
    assert recording.content_type == "audio/mpeg"
    assert recording.size_bytes == len(expected)
    assert recording.checksum_sha256 == hashlib.sha256(expected).hexdigest()
    with recording.file.open("rb") as stored:
        assert stored.read() == expected
    assert partial_files(media_root) == []


def test_a_run_that_is_no_longer_queued_does_nothing(execute, business, media_root, monkeypatch):
    recording = recording_create(business=business)
    run = start_run(recording)
    RecordingRun.objects.filter(pk=run.pk).update(status=Status.FAILED, finished_at=timezone.now())
    pending = scripted_gateway(monkeypatch, (3, [b"abc"]))
    assert execute(run) is None
    assert len(pending) == 1  # Twilio was not asked


@pytest.mark.twilio_sim(recording_unavailable_fetches=2)
def test_not_yet_available_is_retried_with_backoff_then_succeeds(
    execute, business, media_root, twilio_sim, sim_recorded_call
):
    call_sid, recording_sid = sim_recorded_call
    recording = recording_create(business=business, call_sid=call_sid, recording_sid=recording_sid)
    run = start_run(recording)

    for tries, delay in ((1, 15), (2, 30)):
        before = timezone.now()
        assert execute(run) == Status.QUEUED
        run.refresh_from_db()
        assert run.status == Status.QUEUED and run.attempts == tries
        assert "not available yet" in run.error_message and "404" in run.error_message
        assert before + timedelta(seconds=delay - 1) <= run.next_attempt_at <= timezone.now() + timedelta(seconds=delay)
        retry = Schedule.objects.get(name=f"recording_download-{run.pk}-try-{tries + 1}")
        assert retry.func == "recordings.tasks.recording_download" and retry.args == f"({run.pk},)"
        assert retry.schedule_type == Schedule.ONCE and retry.next_run == run.next_attempt_at
        assert run.heartbeat_at >= before  # alive while it waits: not mistaken for stuck

    assert execute(run) == Status.SUCCEEDED
    recording.refresh_from_db()
    assert recording.is_ready and recording.size_bytes == len(sim_media(twilio_sim, recording_sid))


# Twilio answers 404 while it processes a recording; this one takes longer than every try.
@pytest.mark.twilio_sim(recording_unavailable_fetches=100)
def test_a_recording_that_never_comes_fails_after_the_cap(
    execute, business, media_root, twilio_sim, sim_recorded_call, settings
):
    settings.RECORDING_RUN_MAX_ATTEMPTS = 3
    call_sid, recording_sid = sim_recorded_call
    recording = recording_create(business=business, call_sid=call_sid, recording_sid=recording_sid)
    run = start_run(recording)

    outcomes = [execute(run) for _ in range(3)]

    assert outcomes == [Status.QUEUED, Status.QUEUED, Status.FAILED]
    run.refresh_from_db()
    assert run.status == Status.FAILED and run.attempts == 3 and run.finished_at is not None
    assert run.error_message.startswith("The download failed after 3 tries: the recording is not available yet")
    recording.refresh_from_db()
    assert not recording.is_ready


def test_retry_delays_grow_and_are_capped(settings):
    settings.RECORDING_RETRY_BACKOFF_SECONDS = 15
    settings.RECORDING_RETRY_BACKOFF_MAX_SECONDS = 120
    assert [downloads.retry_delay_seconds(tries) for tries in range(1, 6)] == [15, 30, 60, 120, 120]
    assert settings.RECORDING_RETRY_BACKOFF_MAX_SECONDS < settings.RECORDING_JOB_TIMEOUT_MINUTES * 60


def test_a_truncated_body_is_retried_and_leaves_no_partial_file(execute, business, media_root, monkeypatch):
    recording = recording_create(business=business)
    run = start_run(recording)
    scripted_gateway(monkeypatch, (1000, [b"x" * 400]), (6, [b"abc", b"def"]))

    assert execute(run) == Status.QUEUED
    run.refresh_from_db()
    assert "received 400 of 1000 bytes" in run.error_message
    assert partial_files(media_root) == []

    assert execute(run) == Status.SUCCEEDED
    recording.refresh_from_db()
    assert recording.size_bytes == 6 and recording.file.read() == b"abcdef"


def test_a_dropped_connection_midway_is_retried(execute, business, media_root, monkeypatch):
    recording = recording_create(business=business)
    run = start_run(recording)

    def dropping():
        yield b"x" * 100
        raise RetryableTwilioError("Could not reach Twilio: connection reset by peer")

    scripted_gateway(monkeypatch, (1000, dropping()))
    assert execute(run) == Status.QUEUED
    run.refresh_from_db()
    assert "connection reset by peer" in run.error_message
    assert partial_files(media_root) == []


def test_a_permanent_refusal_fails_at_once(execute, business, media_root, monkeypatch):
    recording = recording_create(business=business)
    run = start_run(recording)
    scripted_gateway(monkeypatch, PermanentTwilioError("Authenticate", code=20003, http_status=401))
    assert execute(run) == Status.FAILED
    run.refresh_from_db()
    assert run.status == Status.FAILED and run.attempts == 1
    assert run.error_message.startswith("Twilio refused the recording:") and "401" in run.error_message


def test_a_run_failed_as_stuck_meanwhile_records_nothing(execute, business, media_root, monkeypatch, settings):
    settings.RECORDING_HEARTBEAT_SECONDS = 0
    recording = recording_create(business=business)
    run = start_run(recording)

    def recovered_while_streaming():
        yield b"x" * 10
        # Meanwhile a request found the run silent for too long and failed it.
        RecordingRun.objects.filter(pk=run.pk).update(status=Status.FAILED, finished_at=timezone.now())
        yield b"y" * 10

    scripted_gateway(monkeypatch, (20, recovered_while_streaming()))
    assert execute(run) is None
    recording.refresh_from_db()
    assert not recording.is_ready
    assert partial_files(media_root) == []


def test_heartbeats_while_it_works(execute, business, media_root, monkeypatch, settings):
    settings.RECORDING_HEARTBEAT_SECONDS = 0
    recording = recording_create(business=business)
    run = start_run(recording)
    beats = []

    def watched():
        for _ in range(3):
            yield b"z" * 10
            beats.append(RecordingRun.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk))

    scripted_gateway(monkeypatch, (30, watched()))
    assert execute(run) == Status.SUCCEEDED
    assert beats[0] < beats[1] < beats[2]


def test_cleanup_deletes_only_abandoned_partial_files(business, media_root):
    import os
    import time

    from recordings.tasks import cleanup_stuck_recording_jobs

    partial_dir = media_root / "recordings" / str(business.pk) / "partial"
    partial_dir.mkdir(parents=True)
    abandoned, live, other = partial_dir / "a.part", partial_dir / "b.part", partial_dir / "keep.txt"
    for path in (abandoned, live, other):
        path.write_bytes(b"x")
    six_minutes_ago = time.time() - 6 * 60
    os.utime(abandoned, (six_minutes_ago, six_minutes_ago))
    os.utime(other, (six_minutes_ago, six_minutes_ago))

    cleanup_stuck_recording_jobs()

    assert not abandoned.exists()
    assert live.exists() and other.exists()
