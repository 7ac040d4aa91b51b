from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Business(models.Model):
    """A tenant: every other row of the system belongs to exactly one business."""

    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Jerusalem")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "businesses"
        verbose_name = _("business")
        verbose_name_plural = _("businesses")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MANAGER = "manager", _("Manager")
        AGENT = "agent", _("Agent")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        db_table = "memberships"
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "business"], name="uniq_membership_user_business")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.business}"


class BackgroundJob(models.Model):
    class JobType(models.TextChoices):
        ENQUEUE_OUTBOUND_CALLS = "enqueue_outbound_calls", _("Outbound call queue")
        DELETE_IMPORTED_LEADS = "delete_imported_leads", _("Delete imported leads")
        DELETE_LEADS = "delete_leads", _("Bulk lead delete")
        UPDATE_LEADS = "update_leads", _("Bulk lead update")
        IMPORT_LEADS = "import_leads", _("Lead import")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="background_jobs")
    job_type = models.CharField(_("job type"), max_length=40, choices=JobType.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveBigIntegerField(_("done"), default=0)
    progress_total = models.PositiveBigIntegerField(_("total"), null=True, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error_message = models.TextField(_("message"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    cancel_requested_at = models.DateTimeField(_("cancel requested at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        db_table = "background_jobs"
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["business", "job_type"],
                condition=Q(status__in=["queued", "running"]),
                name="idx_background_jobs_unique_active",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running"], finished_at__isnull=True)
                | Q(status__in=["succeeded", "failed", "cancelled"], finished_at__isnull=False),
                name="background_jobs_finished_at_iff_finished",
            ),
        ]
        indexes = [
            models.Index(
                fields=["heartbeat_at"],
                condition=Q(status__in=["queued", "running"]),
                name="background_jobs_active_hb",
            ),
            models.Index(fields=["business", "-created_at"], name="background_jobs_biz_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_job_type_display()} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    def is_stale(self, now=None) -> bool:
        now = now or timezone.now()
        threshold = timedelta(minutes=settings.BACKGROUND_JOB_STALE_THRESHOLD_MINUTES)
        return self.is_active and self.heartbeat_at < now - threshold

    @property
    def progress_percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(self.progress_done * 100 / self.progress_total))
