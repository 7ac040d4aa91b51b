from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
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


class JobLifecycle(models.Model):
    """Who started a piece of long work, and when it was created, started and finished:
    the fields every job-like row shares (guarded jobs, outbound call runs)."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        abstract = True


class GuardedJob(JobLifecycle):
    """The lifecycle every guarded job shares (background jobs, recording download runs).

    At most one job per scope is active (queued or running): a partial unique index over the
    scope decides it (see `guard_constraints`), never a check in code. A running job beats
    its heartbeat; one silent for longer than `stale_after()` is stale, and the next start or
    the scheduled sweep fails it (callcenter.guarded_jobs). `finished_at` is set exactly when
    the job has finished, which a check constraint holds.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    # The fields of the partial unique index: one active job per combination of them.
    GUARD_SCOPE: tuple[str, ...] = ()
    # The setting holding how many minutes without a sign of life make an active job stale.
    STALE_AFTER_MINUTES_SETTING = ""

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    error_message = models.TextField(_("message"), blank=True, default="")
    # NULL until a worker first touches the job: until then it is judged by created_at.
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)

    class Meta:
        abstract = True

    @staticmethod
    def guard_constraints(*, table: str, scope: list[str], final_statuses: list[str]) -> list[models.BaseConstraint]:
        """The partial unique index `idx_<table>_unique_active` over `scope`, and the check
        that `finished_at` is set exactly for the finished statuses."""
        active = ["queued", "running"]
        return [
            models.UniqueConstraint(fields=scope, condition=Q(status__in=active), name=f"idx_{table}_unique_active"),
            models.CheckConstraint(
                condition=Q(status__in=active, finished_at__isnull=True)
                | Q(status__in=final_statuses, finished_at__isnull=False),
                name=f"{table}_finished_at_iff_finished",
            ),
        ]

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def last_sign_of_life(self):
        return self.heartbeat_at or self.created_at

    @classmethod
    def stale_after_minutes(cls) -> int:
        return getattr(settings, cls.STALE_AFTER_MINUTES_SETTING)

    @classmethod
    def stale_after(cls) -> timedelta:
        return timedelta(minutes=cls.stale_after_minutes())

    def is_stale(self, now=None) -> bool:
        """Active, yet silent for longer than `stale_after()`."""
        now = now or timezone.now()
        return self.is_active and self.last_sign_of_life < now - self.stale_after()

    def stale_message(self, *, old_status: str) -> str:
        """What the job says once failed as stale; names the status it was left in."""
        return gettext(
            "Abandoned: no heartbeat for more than %(minutes)s minutes while %(status)s; "
            "the job was marked failed so a new one can start."
        ) % {"minutes": self.stale_after_minutes(), "status": old_status}


class BackgroundJob(GuardedJob):
    class JobType(models.TextChoices):
        ENQUEUE_OUTBOUND_CALLS = "enqueue_outbound_calls", _("Outbound call queue")
        DELETE_IMPORTED_LEADS = "delete_imported_leads", _("Delete imported leads")
        DELETE_LEADS = "delete_leads", _("Bulk lead delete")
        UPDATE_LEADS = "update_leads", _("Bulk lead update")
        IMPORT_LEADS = "import_leads", _("Lead import")

    GUARD_SCOPE = ("business", "job_type")
    STALE_AFTER_MINUTES_SETTING = "BACKGROUND_JOB_STALE_THRESHOLD_MINUTES"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="background_jobs")
    job_type = models.CharField(_("job type"), max_length=40, choices=JobType.choices)
    progress_done = models.PositiveBigIntegerField(_("done"), default=0)
    progress_total = models.PositiveBigIntegerField(_("total"), null=True, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    cancel_requested_at = models.DateTimeField(_("cancel requested at"), null=True, blank=True)
    # Set at creation: a queued job's age counts as silence.
    heartbeat_at = models.DateTimeField(_("last heartbeat"), default=timezone.now)

    class Meta:
        db_table = "background_jobs"
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        ordering = ["-created_at", "-id"]
        constraints = GuardedJob.guard_constraints(
            table="background_jobs",
            scope=["business", "job_type"],
            final_statuses=["succeeded", "failed", "cancelled"],
        )
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
    def progress_percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(self.progress_done * 100 / self.progress_total))
