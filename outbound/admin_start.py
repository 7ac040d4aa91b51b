"""The "start calls" action of the lead list: a confirmation page with the exact count, what
will be skipped and why, concurrency, attempts and calling hours; only its confirm starts
the run."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from callcenter.admin_confirm import Fact, confirmation_response, is_confirmed
from callcenter.admin_display import run_link
from callcenter.errors import ApplicationError
from leads.admin import LeadAdmin, admin_lead_selection, job_error_message
from leads.selectors import lead_queryset_from_selection
from outbound import selectors, services
from outbound.models import MAX_SLOTS, CallingHours


class StartCallsForm(forms.Form):
    concurrency = forms.TypedChoiceField(
        label=_("calls at a time"),
        coerce=int,
        choices=[(number, number) for number in range(1, MAX_SLOTS + 1)],
        initial=min(settings.OUTBOUND_MAX_CONCURRENCY, MAX_SLOTS),
    )


def calling_hours_text(business) -> str:
    try:
        own = business.calling_hours
    except CallingHours.DoesNotExist:
        own = None
    if own is not None:
        start, end = own.start.strftime("%H:%M"), own.end.strftime("%H:%M")
    else:
        start, end = settings.OUTBOUND_CALLING_HOURS_START, settings.OUTBOUND_CALLING_HOURS_END
    if not start or not end:
        return str(_("Any time"))
    return format_html('<bdi dir="ltr">{}–{}</bdi> ({})', start, end, business.time_zone)


@admin.action(description=_("Start calls"), permissions=["change"])
def start_calls(modeladmin, request, queryset):
    try:
        business, selection = admin_lead_selection(modeladmin, request, queryset)
        leads = lead_queryset_from_selection(business=business, selection=selection)
    except ApplicationError as error:
        modeladmin.message_user(request, job_error_message(error), messages.ERROR)
        return None
    form = StartCallsForm(request.POST if is_confirmed(request) else None)
    if not (is_confirmed(request) and form.is_valid()):
        preview = selectors.run_start_preview(business=business, leads=leads)
        return confirmation_response(
            modeladmin,
            request,
            action="start_calls",
            title=_("Start calls"),
            question=_("Start calling these leads? Calls start as soon as you confirm."),
            count=preview["selected"],
            count_label=ngettext("lead selected", "leads selected", preview["selected"]),
            confirm_label=_("Yes, call %(count)s leads") % {"count": f"{preview['to_call']:,}"},
            facts=[
                Fact(_("will be called"), preview["to_call"], "to_call"),
                Fact(_("skipped: on the do-not-call list"), preview["do_not_call"], "do_not_call"),
                Fact(_("skipped: invalid number"), preview["invalid"], "invalid"),
                Fact(_("skipped: already in an active call"), preview["in_active_call"], "in_active_call"),
                Fact(_("attempts per lead"), max(settings.OUTBOUND_MAX_ATTEMPTS, 1), "attempts"),
                Fact(_("calling hours"), calling_hours_text(business), "calling_hours"),
                Fact(_("business"), business.name),
            ],
            form=form,
        )
    try:
        run = services.outbound_run_start(
            business=business,
            selection=selection,
            concurrency=form.cleaned_data["concurrency"],
            created_by=request.user,
        )
    except ApplicationError as error:
        modeladmin.message_user(request, job_error_message(error), messages.ERROR)
        return None
    modeladmin.message_user(
        request,
        format_html(
            _("Calls started: run {run}, {total} leads, {concurrency} at a time."),
            run=run_link(run.pk),
            total=run.total_leads,
            concurrency=run.concurrency,
        ),
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:outbound_outboundcallrun_change", args=[run.pk]))


LeadAdmin.actions = [*LeadAdmin.actions, start_calls]
