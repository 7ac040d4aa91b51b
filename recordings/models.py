from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from callcenter.models import Business, GuardedJob


def recording_upload_to(recording: "Recording", filename: str) -> str:
    return f"recordings/{recording.business_id}/{filename}"


class Recording(models.Model):
    """A call's recording as Twilio announced it, and once downloaded, our stored copy."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="recordings")
    call_sid = models.CharField(_("call SID"), max_length=64)
    recording_sid = models.CharField(_("recording SID"), max_length=64)
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to=recording_upload_to, max_length=255, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    checksum_sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    downloaded_at = models.DateTimeField(_("downloaded at"), null=True, blank=True)
    # Twilio reported the recording absent (RecordingStatus=absent: no audio was kept, e.g.
    # a call too short or silent): there is nothing to download, now or later.
    absent_at = models.DateTimeField(_("reported absent at"), null=True, blank=True)
    # Failed download runs before this moment no longer count against RECORDING_MAX_FAILED_RUNS
    # (set when staff force a new try).
    attempts_reset_at = models.DateTimeField(_("attempts reset at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "recordings"
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["business", "call_sid"], name="uniq_recordings_business_call"),
        ]

    def __str__(self) -> str:
        return self.call_sid

    @property
    def is_ready(self) -> bool:
        return bool(self.file) and self.downloaded_at is not None

    @property
    def etag(self) -> str:
        return f'"{self.checksum_sha256}"'


class RecordingRun(GuardedJob):
    """One attempt to download a call's recording into our storage."""

    class Status(models.TextChoices):
        # A download run is never cancelled: it either gets the file or fails.
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    GUARD_SCOPE = ("business", "call_sid")
    STALE_AFTER_MINUTES_SETTING = "RECORDING_JOB_TIMEOUT_MINUTES"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="recording_runs")
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="runs")
    call_sid = models.CharField(_("call SID"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Download attempts made by this run, RECORDING_RUN_MAX_ATTEMPTS at most (a retryable
    # failure is attempted again with backoff). Failed runs count against RECORDING_MAX_FAILED_RUNS.
    attempts = models.PositiveIntegerField(_("tries"), default=0)
    next_attempt_at = models.DateTimeField(_("next try at"), null=True, blank=True)

    class Meta:
        db_table = "recording_runs"
        verbose_name = _("recording download")
        verbose_name_plural = _("recording downloads")
        ordering = ["-created_at", "-id"]
        constraints = GuardedJob.guard_constraints(
            table="recording_runs", scope=["business", "call_sid"], final_statuses=["succeeded", "failed"]
        )
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["queued", "running"]),
                name="recording_runs_active_created",
            ),
            models.Index(fields=["business", "call_sid", "status"], name="recording_runs_call_status"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.call_sid} ({self.get_status_display()})"

    def stale_message(self, *, old_status: str) -> str:
        return gettext(
            "Stuck: the download stayed %(status)s with no progress for more than %(minutes)s minutes; "
            "it was marked failed so a new download can start."
        ) % {"status": old_status, "minutes": self.stale_after_minutes()}
