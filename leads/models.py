from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from callcenter.models import Business


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
        ]

    def __str__(self) -> str:
        return f"{self.name or self.phone}"
