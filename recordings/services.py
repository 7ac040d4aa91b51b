"""Every write to recordings and their download runs, except the download itself
(recordings.downloads).

`recording_prepare` is the one service behind both the file and the prepare endpoints.
At most one download run per call is active; the partial unique index
`idx_recording_runs_unique_active` decides it. We insert first and, only on a conflict,
look at the active run under a row lock: a stuck one is failed (its message names the
status it was stuck in) and replaced, a healthy one is returned.
"""

import logging
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from callcenter.errors import Conflict, ServiceUnavailable
from callcenter.models import Business
from callcenter.ops import metrics
from recordings import selectors
from recordings.errors import RecordingUnavailable
from recordings.models import Recording, RecordingRun, recording_job_timeout

logger = logging.getLogger(__name__)

Status = RecordingRun.Status
DOWNLOAD_TASK = "recordings.tasks.recording_download"
# An insert that conflicts, finds the blocker gone and conflicts again means runs are
# finishing and starting under our feet; a few rounds always settle it.
_GUARD_ROUNDS = 5


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

    Raises NotFound (no recording for this call in this business), RecordingUnavailable
    (every allowed attempt failed) or ServiceUnavailable (a new run could not be created;
    nothing active is left behind).
    """
    recording = selectors.recording_get(business=business, call_sid=call_sid)
    if recording.is_ready and not recording.file.storage.exists(recording.file.name):
        recording = _recording_forget_missing_file(recording=recording)
    if recording.is_ready:
        return RecordingState(recording=recording)
    # Pollers ask every few seconds: a healthy active run is answered without any write.
    run = selectors.recording_run_active(business=business, call_sid=call_sid)
    if run is not None and not run.is_stuck():
        return RecordingState(recording=recording, run=run)
    run = recording_run_start(recording=recording, created_by=created_by)
    return RecordingState(recording=recording, run=run)


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
    failure: Exception | None = None
    with transaction.atomic():
        for _round in range(_GUARD_ROUNDS):
            if selectors.recording_runs_failed_count(recording=recording) >= settings.RECORDING_MAX_ATTEMPTS:
                failure = _unavailable(recording)
                break
            try:
                with transaction.atomic():
                    run = _run_insert(recording=recording, created_by=created_by)
            except IntegrityError:
                blocker = _lock_active_run(recording=recording)
                if blocker is None:
                    continue
                if not blocker.is_stuck():
                    return blocker
                _fail_stuck(blocker)
                continue
            except Exception as exc:
                # The savepoint took the half-made run away; the outer transaction (and the
                # stuck run failed above, if any) still commits.
                logger.exception("Could not create a download run for %s", recording.call_sid)
                failure = ServiceUnavailable(
                    _("Could not start downloading the recording: %(error)s. Please try again.") % {"error": exc},
                    extra={"call_sid": recording.call_sid},
                )
                break
            transaction.on_commit(partial(_enqueue_download, run.pk))
            return run
        else:
            failure = Conflict(_("Could not start the download: other downloads keep starting. Please try again."))
    raise failure


def _run_insert(*, recording: Recording, created_by=None) -> RecordingRun:
    return RecordingRun.objects.create(
        business_id=recording.business_id,
        recording=recording,
        call_sid=recording.call_sid,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )


def _lock_active_run(*, recording: Recording) -> RecordingRun | None:
    # The lock serialises every request that met the same blocker: the first fails it if it
    # is stuck and inserts the successor; the others wait here, then meet that successor
    # (healthy) on their next insert and return it instead of creating another.
    return (
        RecordingRun.objects.select_for_update()
        .filter(business_id=recording.business_id, call_sid=recording.call_sid, status__in=RecordingRun.ACTIVE_STATUSES)
        .first()
    )


def _fail_stuck(run: RecordingRun) -> None:
    """Fail a locked, stuck run, naming the status it was stuck in."""
    old_status = run.status
    run.status = Status.FAILED
    run.finished_at = timezone.now()
    run.error_message = _(
        "Stuck: the download stayed %(status)s with no progress for more than %(minutes)s minutes; "
        "it was marked failed so a new download can start."
    ) % {"status": old_status, "minutes": settings.RECORDING_JOB_TIMEOUT_MINUTES}
    run.save(update_fields=["status", "finished_at", "error_message"])
    logger.warning("Recording run %s (%s) stuck while %s; marked failed", run.pk, run.call_sid, old_status)
    metrics.count(metrics.STALE_RECOVERED, kind="recording_download")


def _unavailable(recording: Recording) -> RecordingUnavailable:
    last = selectors.recording_run_last_failed(recording=recording)
    return RecordingUnavailable(
        RecordingUnavailable.default_message % {"attempts": settings.RECORDING_MAX_ATTEMPTS},
        extra={
            "call_sid": recording.call_sid,
            "attempts": settings.RECORDING_MAX_ATTEMPTS,
            "last_error": last.error_message if last else "",
        },
    )


def _enqueue_download(run_id: int) -> None:
    """Queue the download task; if the queue refuses, fail the run so none stays active
    without a worker, and report the error to the caller."""
    try:
        async_task(DOWNLOAD_TASK, run_id, task_name=f"recording_download-{run_id}")
    except Exception as exc:
        logger.exception("Could not queue the download of recording run %s", run_id)
        RecordingRun.objects.filter(pk=run_id, status__in=RecordingRun.ACTIVE_STATUSES).update(
            status=Status.FAILED,
            finished_at=timezone.now(),
            error_message=_("Could not queue the download: %(error)s") % {"error": exc},
        )
        raise ServiceUnavailable(
            _("Could not start downloading the recording: the task queue is unavailable. Please try again.")
        ) from exc


def recording_runs_fail_stuck() -> int:
    """Fail every stuck run of every business. Returns how many."""
    failed = 0
    for run_id in list(selectors.recording_runs_stuck().values_list("id", flat=True)):
        with transaction.atomic():
            # skip_locked: a run locked right now is being recovered by a request or finished
            # by its worker; either way it is not ours to touch.
            run = RecordingRun.objects.select_for_update(skip_locked=True).filter(pk=run_id).first()
            if run is not None and run.is_stuck():
                _fail_stuck(run)
                failed += 1
    return failed


def recording_partial_files_delete_abandoned() -> int:
    """Delete temporary download files older than the job timeout: what a worker killed
    mid-download left behind (a live download touches its file all the time)."""
    storage = Recording._meta.get_field("file").storage
    cutoff = timezone.now() - recording_job_timeout()
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
