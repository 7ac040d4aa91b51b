from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from callcenter.models import BackgroundJob, Business, JobLifecycle
from leads.models import CallOutcome

# The database caps every run at this many slots; a run's own concurrency may be lower.
MAX_SLOTS = 3


class OutboundCallRun(JobLifecycle):
    """One press of "start calls": a set of leads dialed at most `concurrency` at a time."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING, Status.PAUSED)

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="outbound_runs")
    background_job = models.OneToOneField(
        BackgroundJob,
        on_delete=models.PROTECT,
        related_name="outbound_run",
        verbose_name=_("background job"),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    concurrency = models.PositiveSmallIntegerField(_("concurrency"), default=MAX_SLOTS)
    total_leads = models.PositiveIntegerField(_("total leads"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("attempts per lead"), default=1)
    retry_delay_seconds = models.PositiveIntegerField(_("retry delay (seconds)"), default=0)
    selection = models.JSONField(_("selection"), default=dict, blank=True)
    message = models.TextField(_("message"), blank=True, default="")
    cancel_requested_at = models.DateTimeField(_("cancel requested at"), null=True, blank=True)

    class Meta:
        db_table = "outbound_call_runs"
        verbose_name = _("outbound call run")
        verbose_name_plural = _("outbound call runs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(concurrency__gte=1, concurrency__lte=MAX_SLOTS),
                name="outbound_runs_concurrency_1_to_3",
            ),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="outbound_runs_max_attempts_positive"),
        ]
        indexes = [
            models.Index(fields=["business", "-created_at"], name="outbound_runs_biz_created"),
            models.Index(
                fields=["status"],
                condition=Q(status__in=["queued", "running", "paused"]),
                name="outbound_runs_active",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class OutboundCallJob(models.Model):
    """One lead of a run. While dialing or calling it holds a slot of its run."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DIALING = "dialing", _("Dialing")
        CALLING = "calling", _("Calling")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")
        SKIPPED = "skipped", _("Skipped")

    Outcome = CallOutcome

    ACTIVE_STATUSES = (Status.DIALING, Status.CALLING)
    FINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELED, Status.SKIPPED)

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="outbound_call_jobs")
    run = models.ForeignKey(OutboundCallRun, on_delete=models.CASCADE, related_name="calls")
    lead = models.ForeignKey("leads.Lead", on_delete=models.SET_NULL, null=True, blank=True, related_name="call_jobs")
    phone = models.CharField(_("phone"), max_length=20)
    lead_name = models.CharField(_("name"), max_length=200, blank=True, default="")
    # The lead's time zone when the run started (calling hours are checked in it).
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, default="", db_default="")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Final once the call is; while it is in progress only "opted_out" (pressed during the call).
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True, default="")
    # Calls actually placed for this lead (retries of busy / no-answer included).
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Grows with every claim and travels in the callback URL, so callbacks of an earlier
    # attempt can never be taken for the current one.
    claim_number = models.PositiveIntegerField(_("claim number"), default=0)
    # Consecutive retryable errors from calls.create, for the backoff.
    dial_errors = models.PositiveSmallIntegerField(_("dial errors"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    # Queued until its lead's calling hours open (next_attempt_at is that time): a change of
    # the hours makes such calls due again, to be weighed against the new hours.
    waiting_for_hours = models.BooleanField(_("waiting for calling hours"), default=False, db_default=False)
    slot = models.PositiveSmallIntegerField(_("slot"), null=True, blank=True)
    call_sid = models.CharField(_("call SID"), max_length=64, null=True, blank=True, unique=True)
    last_sequence_number = models.IntegerField(_("last callback sequence number"), default=-1)
    twilio_status = models.CharField(_("Twilio status"), max_length=20, blank=True, default="")
    answered_by = models.CharField(_("answered by"), max_length=32, blank=True, default="")
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    # Set right before calls.create is sent: from then on the call may exist at Twilio.
    dial_started_at = models.DateTimeField(_("dial started at"), null=True, blank=True)
    last_event_at = models.DateTimeField(_("last callback at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=32, blank=True, default="")
    error_message = models.TextField(_("error message"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "outbound_call_jobs"
        verbose_name = _("outbound call")
        verbose_name_plural = _("outbound calls")
        ordering = ["id"]
        constraints = [
            # The cap: an active call holds one of its run's slots, and a slot holds one call.
            models.UniqueConstraint(
                fields=["run", "slot"],
                condition=Q(status__in=["dialing", "calling"]),
                name="outbound_call_jobs_one_call_per_slot",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["dialing", "calling"], slot__isnull=False, slot__gte=1, slot__lte=MAX_SLOTS)
                | (~Q(status__in=["dialing", "calling"]) & Q(slot__isnull=True)),
                name="outbound_call_jobs_slot_iff_active",
            ),
            models.UniqueConstraint(fields=["run", "lead"], name="outbound_call_jobs_lead_once_per_run"),
        ]
        indexes = [
            models.Index(
                fields=["run", "next_attempt_at", "id"],
                condition=Q(status="queued"),
                name="outbound_call_jobs_due",
            ),
            models.Index(fields=["run", "status"], name="outbound_call_jobs_run_status"),
            models.Index(
                fields=["last_event_at"],
                condition=Q(status__in=["dialing", "calling"]),
                name="outbound_call_jobs_active",
            ),
            models.Index(fields=["business", "phone"], name="outbound_call_jobs_biz_phone"),
        ]

    def __str__(self) -> str:
        # Unicode isolates (LRI ... PDI): the id and phone keep their order on RTL pages.
        return f"\u2066#{self.pk} {self.phone}\u2069 ({self.get_status_display()})"


class CallAttempt(models.Model):
    """One call placed for a lead: written when the call ends, never changed by a later one.

    The attempt in progress lives on its call (OutboundCallJob) until it ends; then its
    times, Twilio status and outcome are copied here in the same statement that frees the
    slot, and the call's own fields are free for the next attempt.
    """

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(OutboundCallRun, on_delete=models.CASCADE, related_name="attempts")
    call = models.ForeignKey(OutboundCallJob, on_delete=models.CASCADE, related_name="history")
    # Kept when the lead is deleted (set null), with the phone and name it was called as.
    lead = models.ForeignKey("leads.Lead", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    phone = models.CharField(_("phone"), max_length=20)
    lead_name = models.CharField(_("name"), max_length=200, blank=True, default="")
    attempt_number = models.PositiveSmallIntegerField(_("attempt"))
    claim_number = models.PositiveIntegerField(_("claim number"))
    call_sid = models.CharField(_("call SID"), max_length=64, null=True, blank=True, unique=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    dial_started_at = models.DateTimeField(_("dial started at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"))
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), null=True, blank=True)
    twilio_status = models.CharField(_("Twilio status"), max_length=20, blank=True, default="")
    answered_by = models.CharField(_("answered by"), max_length=32, blank=True, default="")
    outcome = models.CharField(_("outcome"), max_length=16, choices=OutboundCallJob.Outcome.choices)
    error_code = models.CharField(_("error code"), max_length=32, blank=True, default="")
    error_message = models.TextField(_("error message"), blank=True, default="")

    class Meta:
        db_table = "outbound_call_attempts"
        verbose_name = _("call attempt")
        verbose_name_plural = _("call attempts")
        ordering = ["call_id", "attempt_number"]
        constraints = [
            models.UniqueConstraint(fields=["call", "attempt_number"], name="outbound_call_attempts_once"),
        ]
        indexes = [
            models.Index(fields=["run", "id"], name="outbound_call_attempts_run"),
            models.Index(fields=["lead", "-ended_at"], name="outbound_call_attempts_lead"),
        ]

    def __str__(self) -> str:
        return f"\u2066#{self.call_id}/{self.attempt_number} {self.phone}\u2069 ({self.get_outcome_display()})"


class CallEvent(models.Model):
    """A Twilio callback as received. Stored once: a redelivery hits the unique key."""

    class Kind(models.TextChoices):
        STATUS = "status", _("Status callback")
        FETCH = "fetch", _("Reconciler fetch")

    call_sid = models.CharField(_("call SID"), max_length=64)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    sequence_number = models.IntegerField(_("sequence number"))
    call_status = models.CharField(_("call status"), max_length=20, blank=True, default="")
    # The claim the callback URL named: tells the current attempt's calls from earlier ones.
    claim_number = models.PositiveIntegerField(_("claim number"), null=True, blank=True)
    job = models.ForeignKey(OutboundCallJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="events")
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        db_table = "call_events"
        verbose_name = _("call event")
        verbose_name_plural = _("call events")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["call_sid", "kind", "sequence_number"], name="call_events_once"),
        ]

    def __str__(self) -> str:
        return f"{self.call_sid} {self.kind} #{self.sequence_number} {self.call_status}"


class CallingHours(models.Model):
    """A business's own calling hours, in its time zone; without a row the settings apply."""

    business = models.OneToOneField(Business, on_delete=models.CASCADE, related_name="calling_hours")
    start = models.TimeField(_("calls from"))
    end = models.TimeField(_("calls until"), help_text=_("Earlier than the start means until the next day."))

    class Meta:
        db_table = "outbound_calling_hours"
        verbose_name = _("calling hours")
        verbose_name_plural = _("calling hours")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class DialPacer(models.Model):
    """The account's single dial pacing row: the earliest time the next calls.create may go out.

    Every process reserves its send time by advancing this row atomically, so the account
    stays under TWILIO_CALLS_PER_SECOND however many workers dial.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    next_slot_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "outbound_dial_pacer"
        verbose_name = _("dial pacer")
        verbose_name_plural = _("dial pacer")

    def __str__(self) -> str:
        return f"next dial at {self.next_slot_at:%H:%M:%S.%f}"


class RunWakeup(models.Model):
    """When a run must next be looked at, and whether a fill of it is on the queue already.

    One row per run: a burst of events that each want a fill queues one (`fill_queued_at`),
    and of every moment something falls due (a retry, a refused dial's backoff, the opening
    of the calling hours, a silent call to fetch) only the earliest is kept (`due_at`).
    """

    run = models.OneToOneField(OutboundCallRun, on_delete=models.CASCADE, primary_key=True, related_name="+")
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    fill_queued_at = models.DateTimeField(_("fill queued at"), null=True, blank=True)

    class Meta:
        db_table = "outbound_run_wakeups"
        verbose_name = _("run wake-up")
        verbose_name_plural = _("run wake-ups")
        indexes = [
            models.Index(fields=["due_at"], condition=Q(due_at__isnull=False), name="outbound_run_wakeups_due"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} due {self.due_at}"
