"""The selection a Lead changelist action stands for: its business, and either the ticked
ids or, for "select all N across pages", the changelist's filter (same names as LeadFilter)."""

from datetime import timedelta

from django.contrib import admin
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from callcenter.admin_confirm import Fact, confirmation_response
from callcenter.admin_display import job_link, run_link
from callcenter.errors import ActiveJobExists, ApplicationError
from callcenter.models import Business
from callcenter.tenancy import user_business_ids
from leads.errors import LeadInputInvalid
from leads.filters import LEAD_FILTER_FIELDS
from leads.models import CallOutcome, Lead, LeadImport

# Changelist parameters that do not narrow the selection (ordering, paging, popups...).
_NON_FILTER_PARAMS = {"o", "p", "all", "e", "_changelist_filters", "_to_field", "_popup"}
BUSINESS_PARAM = "business"


def business_choices(request) -> QuerySet[Business]:
    return Business.objects.filter(pk__in=user_business_ids(request.user)).order_by("name")


class AdminSelectionError(ApplicationError):
    code = "invalid_selection"


def admin_lead_selection(modeladmin, request, queryset) -> tuple[Business, dict]:
    """The business and the job selection an admin action on leads acts on.

    Raises AdminSelectionError (show its message) when the leads span several businesses
    or the changelist carries a parameter a job cannot reproduce.
    """
    return business_from_admin_action(request, queryset), selection_from_admin_action(modeladmin, request, queryset)


def selection_from_admin_action(modeladmin, request, queryset) -> dict:
    if request.POST.get("select_across") not in ("1", "True", "true"):
        return {"lead_ids": list(queryset.order_by("pk").values_list("pk", flat=True))}
    params = {key: request.GET.getlist(key) for key in request.GET}
    unknown = set(params) - LEAD_FILTER_FIELDS - _NON_FILTER_PARAMS - {BUSINESS_PARAM}
    if unknown:
        raise AdminSelectionError(
            _("These list parameters cannot be used for a background job: %(names)s") % {"names": ", ".join(unknown)}
        )
    lead_filter = {}
    for key, values in params.items():
        values = [value for value in values if value != ""]
        if key in LEAD_FILTER_FIELDS and values:
            lead_filter[key] = values[0] if len(values) == 1 and key != "status" else values
    return {"filter": lead_filter}


def business_from_admin_action(request, queryset) -> Business:
    allowed = set(user_business_ids(request.user))
    chosen = request.GET.get(BUSINESS_PARAM)
    if chosen:
        try:
            business_id = int(chosen)
        except ValueError:
            business_id = None
        if business_id not in allowed:
            raise AdminSelectionError(_("Unknown business."))
    elif len(allowed) == 1:
        business_id = next(iter(allowed))
    else:
        found = list(queryset.order_by().values_list("business_id", flat=True).distinct()[:2])
        if len(found) != 1:
            raise AdminSelectionError(_("The selected leads belong to several businesses: filter by one business."))
        business_id = found[0]
    return Business.objects.get(pk=business_id)


def job_error_message(error: ApplicationError):
    """The error as a message for staff, linking the job (or the run) that is in the way."""
    if isinstance(error, ActiveJobExists):
        job = error.job
        run_id = getattr(getattr(job, "outbound_run", None), "pk", None) if job.job_type == _CALLS_JOB else None
        if run_id is not None:
            return format_html(
                _("{message} (run {run}, job {job}, status: {status})"),
                message=error.message,
                run=run_link(run_id),
                job=job_link(job.pk),
                status=job.get_status_display(),
            )
        return format_html(
            _("{message} (job {job}, status: {status})"),
            message=error.message,
            job=job_link(job.pk),
            status=job.get_status_display(),
        )
    if isinstance(error, LeadInputInvalid):
        details = "; ".join(" ".join(str(value) for value in values) for values in error.extra["fields"].values())
        return f"{error.message} {details}"
    return str(error.message)


_CALLS_JOB = "enqueue_outbound_calls"


class BusinessListFilter(admin.SimpleListFilter):
    title = _("business")
    parameter_name = BUSINESS_PARAM

    def lookups(self, request, model_admin):
        businesses = business_choices(request)
        if len(businesses) < 2:
            return []
        return [(str(business.pk), business.name) for business in businesses]

    def queryset(self, request, queryset):
        return queryset.filter(business_id=self.value()) if self.value() else queryset


class StatusListFilter(admin.SimpleListFilter):
    # Parameter names equal the LeadFilter's, so "select all" hands the job the same filter.
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Lead.Status.choices

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class DoNotCallListFilter(admin.SimpleListFilter):
    title = _("do not call")
    parameter_name = "do_not_call"

    def lookups(self, request, model_admin):
        return [("true", _("Yes")), ("false", _("No"))]

    def queryset(self, request, queryset):
        if self.value() in ("true", "false"):
            return queryset.filter(do_not_call=self.value() == "true")
        return queryset


class LastOutcomeListFilter(admin.SimpleListFilter):
    title = _("last outcome")
    parameter_name = "last_outcome"

    def lookups(self, request, model_admin):
        return CallOutcome.choices

    def queryset(self, request, queryset):
        return queryset.filter(last_outcome=self.value()) if self.value() else queryset


class LastCalledListFilter(admin.SimpleListFilter):
    title = _("last called")
    parameter_name = "last_called_within_days"

    def lookups(self, request, model_admin):
        return [("1", _("In the last day")), ("7", _("In the last 7 days")), ("30", _("In the last 30 days"))]

    def queryset(self, request, queryset):
        if self.value() in ("1", "7", "30"):
            return queryset.filter(last_called_at__gte=timezone.now() - timedelta(days=int(self.value())))
        return queryset


class LeadImportListFilter(admin.SimpleListFilter):
    title = _("import")
    parameter_name = "lead_import"
    recent_imports = 30

    def lookups(self, request, model_admin):
        recent = LeadImport.objects.filter(business__in=user_business_ids(request.user)).order_by("-id")
        return [(str(item.pk), str(item)) for item in recent[: self.recent_imports]]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(lead_import_id=int(self.value()))
        except ValueError:
            return queryset.none()


def leads_delete_confirmation(
    modeladmin, request, *, action: str, title: str, question: str, count: int, facts: list[Fact]
) -> TemplateResponse:
    """The confirmation page of an action that deletes `count` leads for good."""
    return confirmation_response(
        modeladmin,
        request,
        action=action,
        title=title,
        question=question,
        count=count,
        count_label=ngettext("lead will be deleted", "leads will be deleted", count),
        confirm_label=_("Yes, delete %(count)s leads") % {"count": f"{count:,}"},
        facts=facts,
        danger=True,
    )
