"""The worker side of a recording download run.

The audio streams from Twilio into Django's storage under a temporary name, a chunk at a
time (constant memory, whatever the recording's length), is checked (size against
Content-Length, SHA-256 recorded) and only then moved to its final name and recorded.
A retryable failure (Twilio 5xx/429, timeouts, a dropped connection, a truncated body,
and a 404 while Twilio is still processing the recording) is tried again later through a
one-off django-q2 schedule, so no worker sleeps through the backoff; after
RECORDING_RUN_MAX_ATTEMPTS attempts (RecordingRun.attempts), or at once for a permanent
failure, the run fails with a message saying why.
"""

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import schedule

from callcenter import twilio_gateway
from callcenter.guarded_jobs import JobInterrupted, guarded_job_claim, guarded_job_finish, guarded_job_heartbeat
from callcenter.ops import metrics
from callcenter.twilio_gateway import PermanentTwilioError, RetryableTwilioError
from recordings.models import Recording, RecordingRun, recording_upload_to
from recordings.services import DOWNLOAD_TASK

logger = logging.getLogger(__name__)

Status = RecordingRun.Status
CHUNK_SIZE = 64 * 1024
EXTENSIONS = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav"}


class IncompleteDownload(Exception):
    """The body ended before Content-Length bytes arrived: worth another try."""


class _StreamedAudio(File):
    """A File whose chunks come straight from Twilio, hashed, counted and heartbeating
    on the way into storage; nothing but the current chunk is held."""

    def __init__(self, chunks: Iterator[bytes], *, run: RecordingRun, name: str):
        super().__init__(None, name=name)
        self._source = chunks
        self._run = run
        self.sha256 = hashlib.sha256()
        self.received = 0

    def chunks(self, chunk_size=None):
        last_beat = time.monotonic()
        for chunk in self._source:
            self.sha256.update(chunk)
            self.received += len(chunk)
            yield chunk
            if time.monotonic() - last_beat >= settings.RECORDING_HEARTBEAT_SECONDS:
                recording_run_heartbeat(run=self._run)
                last_beat = time.monotonic()

    def multiple_chunks(self, chunk_size=None):
        return True

    def __bool__(self):
        return True


def recording_run_heartbeat(*, run: RecordingRun) -> None:
    """Raises JobInterrupted("lost") once the run was failed as stuck behind our back."""
    guarded_job_heartbeat(job=run)


def recording_run_claim(*, run_id: int) -> RecordingRun | None:
    """Take a queued run for this worker (one more try). None if it is not queued."""
    if not guarded_job_claim(model=RecordingRun, job_id=run_id, next_attempt_at=None, attempts=F("attempts") + 1):
        return None
    return RecordingRun.objects.select_related("recording").get(pk=run_id)


def recording_run_execute(*, run_id: int) -> str | None:
    """Body of the download task. Returns the run's status afterwards (None: not ours)."""
    run = recording_run_claim(run_id=run_id)
    if run is None:
        logger.info("Recording run %s is no longer queued; nothing to do", run_id)
        return None
    recording = run.recording
    if recording.is_ready:
        _finish(run=run, status=Status.SUCCEEDED)
        return Status.SUCCEEDED
    try:
        _download(run=run, recording=recording)
    except JobInterrupted:
        logger.warning("Recording run %s was failed as stuck while downloading; result discarded", run.pk)
        return None
    except PermanentTwilioError as error:
        if error.http_status == 404:
            # Twilio answers 404 until it has finished processing the recording.
            return _retry_or_fail(
                run=run, reason=_("the recording is not available yet (%(error)s)") % {"error": error}
            )
        return _fail(run=run, message=_("Twilio refused the recording: %(error)s") % {"error": error})
    except (RetryableTwilioError, IncompleteDownload, OSError) as error:
        return _retry_or_fail(run=run, reason=str(error))
    except Exception as error:
        logger.exception("Recording run %s failed", run.pk)
        return _fail(run=run, message=_("Failed: %(error)s") % {"error": error})
    return Status.SUCCEEDED


def _download(*, run: RecordingRun, recording: Recording) -> None:
    storage = recording.file.storage
    with twilio_gateway.recording_media(
        recording_sid=recording.recording_sid, fmt=settings.RECORDING_FORMAT, chunk_size=CHUNK_SIZE
    ) as media:
        content_type = media.content_type.split(";")[0].strip() or "audio/mpeg"
        extension = EXTENSIONS.get(content_type, settings.RECORDING_FORMAT)
        final_name = recording_upload_to(recording, f"{recording.call_sid}.{extension}")
        # A unique temporary name: a half-written file is never where readers look.
        partial_name = recording_upload_to(recording, f"partial/{recording.call_sid}-{run.pk}-{uuid.uuid4().hex}.part")
        audio = _StreamedAudio(media.chunks, run=run, name=partial_name)
        try:
            partial_name = storage.save(partial_name, audio)
        except BaseException:
            _delete_quietly(storage, partial_name)
            raise
    try:
        if media.content_length is not None and audio.received != media.content_length:
            raise IncompleteDownload(
                _("received %(received)s of %(expected)s bytes")
                % {"received": audio.received, "expected": media.content_length}
            )
        if audio.received == 0:
            raise IncompleteDownload(_("Twilio sent an empty recording"))
        stored_name = _move_into_place(storage, partial_name, final_name)
    except BaseException:
        _delete_quietly(storage, partial_name)
        raise
    _record_download(
        run=run,
        recording=recording,
        name=stored_name,
        size=audio.received,
        content_type=content_type,
        checksum=audio.sha256.hexdigest(),
    )


def _delete_quietly(storage: Storage, name: str) -> None:
    try:
        if storage.exists(name):
            storage.delete(name)
    except OSError:
        logger.warning("Could not remove the partial download %s", name, exc_info=True)


def _move_into_place(storage: Storage, partial_name: str, final_name: str) -> str:
    """Put the finished file under its final name in one step where the storage allows it."""
    try:
        partial_path, final_path = storage.path(partial_name), storage.path(final_name)
    except NotImplementedError:
        # Remote storages cannot rename: copy server-side through a stream, then drop the part.
        if storage.exists(final_name):
            storage.delete(final_name)
        with storage.open(partial_name, "rb") as source:
            stored = storage.save(final_name, File(source, name=final_name))
        storage.delete(partial_name)
        return stored
    os.makedirs(os.path.dirname(final_path), exist_ok=True)
    os.replace(partial_path, final_path)
    return final_name


def _record_download(
    *, run: RecordingRun, recording: Recording, name: str, size: int, content_type: str, checksum: str
) -> None:
    with transaction.atomic():
        # Lock the run: the stuck-run recovery fails it under the same lock, so either it is
        # still ours and we record the file, or it was failed and we record nothing.
        locked = RecordingRun.objects.select_for_update().filter(pk=run.pk, status=Status.RUNNING).first()
        if locked is None:
            raise JobInterrupted("lost")
        Recording.objects.filter(pk=recording.pk).update(
            file=name,
            size_bytes=size,
            content_type=content_type,
            checksum_sha256=checksum,
            downloaded_at=timezone.now(),
            updated_at=timezone.now(),
        )
        _finish(run=locked, status=Status.SUCCEEDED)
    logger.info("Recording %s downloaded (%s bytes) by run %s", recording.call_sid, size, run.pk)


def _finish(*, run: RecordingRun, status: str, message: str = "") -> bool:
    finished = guarded_job_finish(job=run, status=status, message=message, next_attempt_at=None)
    if finished:
        metrics.count(metrics.RECORDING_DOWNLOADS, result=status)
    return finished


def _fail(*, run: RecordingRun, message: str) -> str:
    logger.warning("Recording run %s failed: %s", run.pk, message)
    _finish(run=run, status=Status.FAILED, message=message)
    return Status.FAILED


def retry_delay_seconds(attempts_made: int) -> int:
    """Backoff before attempt number `attempts_made + 1`: base, 2x base, 4x base ..., capped."""
    delay = settings.RECORDING_RETRY_BACKOFF_SECONDS * (2 ** max(0, attempts_made - 1))
    return int(min(delay, settings.RECORDING_RETRY_BACKOFF_MAX_SECONDS))


def _retry_or_fail(*, run: RecordingRun, reason: str) -> str:
    attempts = RecordingRun.objects.values_list("attempts", flat=True).get(pk=run.pk)
    if attempts >= settings.RECORDING_RUN_MAX_ATTEMPTS:
        return _fail(
            run=run,
            message=_("The download failed after %(tries)s tries: %(reason)s") % {"tries": attempts, "reason": reason},
        )
    delay = retry_delay_seconds(attempts)
    now = timezone.now()
    next_attempt_at = now + timedelta(seconds=delay)
    with transaction.atomic():
        # Back to queued, alive as of now: the next claim is a plain queued -> running, and
        # the stuck-run recovery still catches it if the retry never comes.
        requeued = RecordingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
            status=Status.QUEUED,
            heartbeat_at=now,
            next_attempt_at=next_attempt_at,
            error_message=_("Try %(tries)s failed (%(reason)s); trying again in %(delay)s seconds.")
            % {"tries": attempts, "reason": reason, "delay": delay},
        )
        if not requeued:
            return None
        transaction.on_commit(
            partial(
                schedule,
                DOWNLOAD_TASK,
                run.pk,
                name=f"recording_download-{run.pk}-try-{attempts + 1}",
                next_run=next_attempt_at,
            )
        )
    logger.info("Recording run %s: attempt %s failed (%s); next in %ss", run.pk, attempts, reason, delay)
    return Status.QUEUED
