"""Every write to recordings and their download runs, except the download itself
(recordings.downloads).

`recording_prepare` is the one service behind both the file and the prepare endpoints.
A download run is a guarded job (callcenter.guarded_jobs): the partial unique index
`idx_recording_runs_unique_active` lets one run per call be active. A stuck one is failed
(its message names the status it was stuck in) and replaced, a healthy one is returned.
"""

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from callcenter.errors import ApplicationError, NotFound, ServiceUnavailable
from callcenter.guarded_jobs import guarded_job_enqueue_on_commit, guarded_job_start, guarded_jobs_fail_stale
from callcenter.models import Business
from recordings import selectors
from recordings.errors import RecordingAbsent, RecordingUnavailable
from recordings.models import Recording, RecordingRun

logger = logging.getLogger(__name__)

Status = RecordingRun.Status
DOWNLOAD_TASK = "recordings.tasks.recording_download"


@dataclass(frozen=True)
class RecordingState:
    """What a client asking for a recording gets: the file, or the run preparing it."""

    recording: Recording
    run: RecordingRun | None = None

    @property
    def is_ready(self) -> bool:
        return self.run is None


def recording_prepare(*, business: Business, call_sid: str, created_by=None) -> RecordingState:
    """Ready recording, or the healthy active run downloading it (started or recovered
    here if needed).

    Raises NotFound (no recording for this call in this business), RecordingAbsent (Twilio
    reported it absent), RecordingUnavailable (every allowed attempt failed) or
    ServiceUnavailable (a new run could not be created; nothing active is left behind).
    """
    recording, run = selectors.recording_get(business=business, call_sid=call_sid)
    if recording.absent_at is not None:
        raise _absent(recording)
    if recording.is_ready and not recording.file.storage.exists(recording.file.name):
        recording = _recording_forget_missing_file(recording=recording)
    if recording.is_ready:
        return RecordingState(recording=recording)
    # Pollers ask every few seconds: a healthy active run is answered without any write.
    if run is not None and not run.is_stale():
        return RecordingState(recording=recording, run=run)
    run = recording_run_start(recording=recording, created_by=created_by)
    return RecordingState(recording=recording, run=run)


class ReadyRecordings:
    """This process's recently seen ready recordings, each for RECORDING_READY_CACHE_SECONDS.

    A player reads a recording in many Range requests, several a second while it buffers or
    seeks: the recording's state, looked up for the first of them, stands for the next ones
    of that short moment, so they cost no statement. A recording deleted or reset meanwhile
    is served for at most that long by a process that has just served it (a signed URL
    already outlives a removed membership for far longer: RECORDING_URL_MAX_AGE_SECONDS).
    Only ready recordings are kept, at most MAX_ENTRIES of them.
    """

    MAX_ENTRIES = 1024

    def __init__(self):
        self._entries: OrderedDict[tuple[int, str], tuple[float, Recording]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> Recording | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: tuple[int, str], recording: Recording) -> None:
        seconds = settings.RECORDING_READY_CACHE_SECONDS
        if seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + seconds, recording)
            self._entries.move_to_end(key)
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


ready_recordings = ReadyRecordings()


def recording_prepare_signed(*, business_id: int, call_sid: str) -> RecordingState:
    """recording_prepare for a signed file URL (recordings.signed_urls), whose request names
    the business by id and no user. Each range a player reads asks this: a recording ready
    on storage costs one lean statement, or none while ready_recordings holds it; any other
    state takes recording_prepare's path."""
    key = (business_id, call_sid)
    recording = ready_recordings.get(key)
    if recording is not None and recording.file.storage.exists(recording.file.name):
        return RecordingState(recording=recording)
    recording = selectors.recording_file_get(business_id=business_id, call_sid=call_sid)
    if recording.absent_at is None and recording.is_ready and recording.file.storage.exists(recording.file.name):
        ready_recordings.put(key, recording)
        return RecordingState(recording=recording)
    business = Business.objects.filter(pk=business_id).first()
    if business is None:
        raise NotFound(_("No recording was found for this call."), extra={"call_sid": call_sid})
    return recording_prepare(business=business, call_sid=call_sid)


def _recording_forget_missing_file(*, recording: Recording) -> Recording:
    """The stored file vanished (storage wiped or restored without it): download it again
    instead of failing every request."""
    logger.error(
        "Recording file %s of call %s is missing; downloading it again", recording.file.name, recording.call_sid
    )
    Recording.objects.filter(pk=recording.pk, file=recording.file.name).update(
        file="", size_bytes=None, checksum_sha256="", downloaded_at=None, updated_at=timezone.now()
    )
    recording.refresh_from_db()
    return recording


def recording_run_start(*, recording: Recording, created_by=None) -> RecordingRun:
    """The active download run of `recording`: a healthy existing one, or a new one.

    A stuck active run is failed first. That failure is kept even when creating its
    successor fails, so an error never leaves an active run behind.
    """

    if recording.absent_at is not None:
        raise _absent(recording)

    def refuse_after_max_failed_runs() -> None:
        if selectors.recording_runs_failed_count(recording=recording) >= settings.RECORDING_MAX_FAILED_RUNS:
            raise _unavailable(recording)

    try:
        run, created = guarded_job_start(
            model=RecordingRun,
            scope={"business_id": recording.business_id, "call_sid": recording.call_sid},
            insert=lambda: _run_insert(recording=recording, created_by=created_by),
            before_insert=refuse_after_max_failed_runs,
            busy_message=_("Could not start the download: other downloads keep starting. Please try again."),
        )
    except ApplicationError:
        raise
    except Exception as exc:
        logger.exception("Could not create a download run for %s", recording.call_sid)
        raise ServiceUnavailable(
            _("Could not start downloading the recording: %(error)s. Please try again.") % {"error": exc},
            extra={"call_sid": recording.call_sid},
        ) from exc
    if created:
        guarded_job_enqueue_on_commit(
            job=run,
            task=DOWNLOAD_TASK,
            task_name=f"recording_download-{run.pk}",
            unavailable_message=_(
                "Could not start downloading the recording: the task queue is unavailable. Please try again."
            ),
        )
    return run


def _run_insert(*, recording: Recording, created_by=None) -> RecordingRun:
    return RecordingRun.objects.create(
        business_id=recording.business_id,
        recording=recording,
        call_sid=recording.call_sid,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )


def _absent(recording: Recording) -> RecordingAbsent:
    return RecordingAbsent(RecordingAbsent.default_message, extra={"call_sid": recording.call_sid})


def _unavailable(recording: Recording) -> RecordingUnavailable:
    last = selectors.recording_run_last_failed(recording=recording)
    return RecordingUnavailable(
        RecordingUnavailable.default_message % {"attempts": settings.RECORDING_MAX_FAILED_RUNS},
        extra={
            "call_sid": recording.call_sid,
            "attempts": settings.RECORDING_MAX_FAILED_RUNS,
            "last_error": last.error_message if last else "",
        },
    )


def recording_runs_fail_stuck() -> int:
    """Fail every stuck run of every business. Returns how many."""
    return guarded_jobs_fail_stale(model=RecordingRun)


def recording_partial_files_delete_abandoned() -> int:
    """Delete temporary download files older than the job timeout: what a worker killed
    mid-download left behind (a live download touches its file all the time)."""
    storage = Recording._meta.get_field("file").storage
    cutoff = timezone.now() - RecordingRun.stale_after()
    deleted = 0
    try:
        business_dirs, _files = storage.listdir("recordings")
    except (FileNotFoundError, NotImplementedError):
        return 0
    for business_dir in business_dirs:
        partial_dir = f"recordings/{business_dir}/partial"
        try:
            _dirs, names = storage.listdir(partial_dir)
        except FileNotFoundError:
            continue
        for name in names:
            path = f"{partial_dir}/{name}"
            try:
                if name.endswith(".part") and storage.get_modified_time(path) < cutoff:
                    storage.delete(path)
                    deleted += 1
            except (FileNotFoundError, NotImplementedError):
                continue
    return deleted


def recording_register(
    *, business: Business, call_sid: str, recording_sid: str, duration_seconds: int | None
) -> tuple[Recording, RecordingRun | None]:
    """Record a completed recording Twilio told us about and start its download.

    Idempotent: a repeated callback changes nothing and starts no second run. A recording
    already downloaded keeps its file.
    """
    with transaction.atomic():
        recording, created = Recording.objects.get_or_create(
            business=business,
            call_sid=call_sid,
            defaults={"recording_sid": recording_sid, "duration_seconds": duration_seconds},
        )
        if not created:
            # The row lock keeps a concurrent duplicate callback and a finishing download
            # from both deciding on a stale copy.
            recording = Recording.objects.select_for_update().get(pk=recording.pk)
            if recording.is_ready:
                return recording, None
            changed = []
            if recording.absent_at is not None:
                # Completed after all: Twilio's latest word about the recording stands.
                recording.absent_at = None
                changed.append("absent_at")
            if recording.recording_sid != recording_sid:
                recording.recording_sid = recording_sid
                changed.append("recording_sid")
            if duration_seconds is not None and recording.duration_seconds != duration_seconds:
                recording.duration_seconds = duration_seconds
                changed.append("duration_seconds")
            if changed:
                recording.save(update_fields=[*changed, "updated_at"])
        try:
            run = recording_run_start(recording=recording)
        except RecordingUnavailable:
            return recording, None
    return recording, run


def recording_mark_absent(*, business: Business, call_sid: str, recording_sid: str) -> Recording:
    """Record that Twilio has no recording for this call (RecordingStatus=absent): clients
    asking for it are told it does not exist, and no download is started or retried.

    Idempotent. A recording already downloaded keeps its file (an absent report can only
    come before a completed one; a late duplicate changes nothing).
    """
    now = timezone.now()
    with transaction.atomic():
        recording, created = Recording.objects.get_or_create(
            business=business,
            call_sid=call_sid,
            defaults={"recording_sid": recording_sid, "absent_at": now, "duration_seconds": 0},
        )
        if created:
            return recording
        # Locked so a download finishing at this moment and this report don't both decide.
        recording = Recording.objects.select_for_update().get(pk=recording.pk)
        if recording.is_ready or recording.absent_at is not None:
            return recording
        recording.recording_sid = recording_sid
        recording.absent_at = now
        recording.save(update_fields=["recording_sid", "absent_at", "updated_at"])
    logger.info("Recording %s of call %s reported absent", recording_sid, call_sid)
    return recording


def recording_download_force(*, recording: Recording, created_by=None) -> RecordingRun | None:
    """Staff's "try again": earlier failures stop counting and a download starts now.
    None when the recording is already downloaded."""
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording.pk)
        if recording.is_ready:
            return None
        recording.attempts_reset_at = timezone.now()
        recording.save(update_fields=["attempts_reset_at", "updated_at"])
        return recording_run_start(recording=recording, created_by=created_by)
