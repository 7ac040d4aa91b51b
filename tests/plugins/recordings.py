"""pytest fixtures shared across the suite (recordings)."""

import hashlib
import io
import math
import struct
import wave
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from recordings.models import Recording, RecordingRun


def wav_bytes(*, seconds: float = 3.0, rate: int = 8000) -> bytes:
    """A real, playable mono 16-bit PCM WAV (a 440 Hz tone) that browsers can decode."""
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * index / rate))) for index in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return buffer.getvalue()


def recording_create(*, business, call_sid: str = "CA" + "1" * 32, recording_sid: str = "RE" + "1" * 32, **extra):
    return Recording.objects.create(
        business=business, call_sid=call_sid, recording_sid=recording_sid, duration_seconds=3, **extra
    )


def recording_store(recording: Recording, content: bytes, *, content_type: str = "audio/wav") -> Recording:
    recording.file.save(f"{recording.call_sid}.wav", ContentFile(content), save=False)
    recording.size_bytes = len(content)
    recording.content_type = content_type
    recording.checksum_sha256 = hashlib.sha256(content).hexdigest()
    recording.downloaded_at = timezone.now()
    recording.save()
    return recording


def run_create(*, recording: Recording, status: str = "queued", minutes_old: float = 0, **extra) -> RecordingRun:
    """A run created `minutes_old` minutes ago; a running one last heartbeated then too."""
    moment = timezone.now() - timedelta(minutes=minutes_old)
    if status == RecordingRun.Status.RUNNING:
        extra.setdefault("started_at", moment)
        extra.setdefault("heartbeat_at", moment)
    if status in (RecordingRun.Status.SUCCEEDED, RecordingRun.Status.FAILED):
        extra.setdefault("finished_at", moment)
    return RecordingRun.objects.create(
        business=recording.business,
        recording=recording,
        call_sid=recording.call_sid,
        status=status,
        created_at=moment,
        **extra,
    )


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def recording(business):
    return recording_create(business=business)


@pytest.fixture
def audio_bytes():
    return wav_bytes(seconds=3.0)


@pytest.fixture
def ready_recording(business, media_root, audio_bytes):
    return recording_store(recording_create(business=business), audio_bytes)


def sim_recording(twilio_sim, *, recording_status_callback_url: str | None = None) -> tuple[str, str]:
    """Place a recorded call on the simulator and wait for its recording to complete.
    Returns (call_sid, recording_sid)."""
    from callcenter import twilio_gateway

    # Nothing listens on the discard port: the simulator's call-status callbacks go nowhere.
    nowhere = "http://127.0.0.1:9/ignored"
    call = twilio_gateway.call_create(
        to="+972501234567",
        twiml_url=nowhere,
        status_callback_url=nowhere,
        record=True,
        recording_status_callback_url=recording_status_callback_url,
    )

    def recording_completed():
        return any(r["call_sid"] == call.sid and r["completed_at"] for r in twilio_sim.recordings())

    assert twilio_sim.wait_for(recording_completed, timeout=20), "the simulator never completed the recording"
    recording = next(r for r in twilio_sim.recordings() if r["call_sid"] == call.sid)
    return call.sid, recording["sid"]


@pytest.fixture
def sim_recorded_call(twilio_sim):
    return sim_recording(twilio_sim)
