from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from callcenter.models import Business


class CallOutcome(models.TextChoices):
    """How a call to a lead ended: a lead's last outcome, a call's and each attempt's."""

    ANSWERED = "answered", _("Answered")
    BUSY = "busy", _("Busy")
    NO_ANSWER = "no_answer", _("No answer")
    MACHINE = "machine", _("Answering machine")
    FAILED = "failed", _("Failed")
    INVALID_NUMBER = "invalid_number", _("Invalid number")
    DO_NOT_CALL = "do_not_call", _("Do not call")
    OPTED_OUT = "opted_out", _("Opted out")
    CANCELED = "canceled", _("Canceled")


class LeadImport(models.Model):
    """One uploaded lead file and what became of its rows."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="lead_imports")
    file_name = models.CharField(_("file name"), max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    job = models.ForeignKey(
        "callcenter.BackgroundJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_created = models.PositiveIntegerField(_("created"), default=0)
    rows_updated = models.PositiveIntegerField(_("updated"), default=0)
    rows_rejected = models.PositiveIntegerField(_("rejected"), default=0)
    # [{"row": 12, "reason": "invalid_phone", "message": "...", "value": "..."}, ...]
    errors = models.JSONField(_("rejected rows"), default=list, blank=True)

    class Meta:
        db_table = "lead_imports"
        verbose_name = _("lead import")
        verbose_name_plural = _("lead imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.file_name}"


class Lead(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        INTERESTED = "interested", _("Interested")
        NOT_INTERESTED = "not_interested", _("Not interested")
        CONVERTED = "converted", _("Converted")

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="leads")
    phone = models.CharField(_("phone (E.164)"), max_length=20)
    name = models.CharField(_("name"), max_length=200, blank=True, default="")
    email = models.EmailField(_("email"), blank=True, default="")
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.NEW)
    do_not_call = models.BooleanField(_("do not call"), default=False)
    # The number's own zone (phonenumbers), or the business's when it has several or none;
    # calling hours are checked in it.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, default="", db_default="")
    # What the last run that finished this lead got, and when; every call placed counts.
    last_outcome = models.CharField(
        _("last outcome"), max_length=16, choices=CallOutcome.choices, blank=True, default="", db_default=""
    )
    last_called_at = models.DateTimeField(_("last called at"), null=True, blank=True)
    call_attempts = models.PositiveIntegerField(_("calls placed"), default=0, db_default=0)
    lead_import = models.ForeignKey(
        LeadImport,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("import"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        db_table = "leads"
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["business", "phone"], name="uniq_lead_business_phone")]
        indexes = [
            models.Index(fields=["business", "status"], name="leads_business_status"),
            # (business, import, id): "delete what this import created" walks it in id order.
            models.Index(fields=["business", "lead_import", "id"], name="leads_business_import_id"),
            models.Index(fields=["business", "-id"], name="leads_business_id_desc"),
            models.Index(fields=["business", "last_outcome"], name="leads_business_last_outcome"),
            models.Index(fields=["business", "last_called_at"], name="leads_business_last_called"),
        ]

    def __str__(self) -> str:
        # A phone in Unicode isolates (LRI ... PDI) keeps its order on RTL pages.
        return self.name or f"\u2066{self.phone}\u2069"


class DoNotCallNumber(models.Model):
    """A number the business must never dial again (it opted out by keypress, or staff
    said so). Shared by every run and every import: no import clears it, and every claim
    checks it, so even a run already in progress skips the number."""

    class Source(models.TextChoices):
        KEYPRESS = "keypress", _("Pressed the opt-out key")
        STAFF = "staff", _("Added by staff")

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="do_not_call_numbers")
    phone = models.CharField(_("phone (E.164)"), max_length=20)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.STAFF)
    created_at = models.DateTimeField(_("added at"), default=timezone.now)

    class Meta:
        db_table = "do_not_call_numbers"
        verbose_name = _("do-not-call number")
        verbose_name_plural = _("do-not-call numbers")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["business", "phone"], name="do_not_call_once_per_business")]

    def __str__(self) -> str:
        return f"\u2066{self.phone}\u2069"
