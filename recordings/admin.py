from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from callcenter.admin_base import ReadOnlyTenantAdmin, TenantScopedAdmin
from callcenter.admin_display import ltr, run_link
from callcenter.admin_filters import BusinessFilter
from callcenter.errors import ApplicationError
from callcenter.job_outcome import technical_details
from callcenter.tenancy import business_url
from recordings import services
from recordings.models import Recording, RecordingRun


def _calls_by_sid(call_sids: list[str]) -> dict:
    from outbound.models import OutboundCallJob

    calls = OutboundCallJob.objects.filter(call_sid__in=[sid for sid in call_sids if sid]).only(
        "id", "call_sid", "phone", "lead_name", "run_id", "lead_id"
    )
    return {call.call_sid: call for call in calls}


class WithCallsChangeList(ChangeList):
    """Each recording of the page gets its call (phone, lead, run) from one query."""

    def get_results(self, request):
        super().get_results(request)
        calls = _calls_by_sid([recording.call_sid for recording in self.result_list])
        for recording in self.result_list:
            recording.call = calls.get(recording.call_sid)


def _call_of(recording: Recording):
    if not hasattr(recording, "call"):
        recording.call = _calls_by_sid([recording.call_sid]).get(recording.call_sid)
    return recording.call


class RecordingRunInline(admin.TabularInline):
    model = RecordingRun
    extra = 0
    can_delete = False
    fields = ["id", "status", "attempts", "message_display", "created_at", "heartbeat_at", "finished_at"]
    readonly_fields = fields
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("message"))
    def message_display(self, run: RecordingRun):
        return technical_details(run.error_message) or "-"


@admin.register(Recording)
class RecordingAdmin(TenantScopedAdmin):
    list_display = [
        "sid_display",
        "phone_display",
        "lead_name_display",
        "run_display",
        "business_display",
        "duration_seconds",
        "downloaded_at",
        "player",
    ]
    list_display_links = ["sid_display"]
    list_select_related = ["business"]
    search_fields = ["call_sid", "recording_sid"]
    search_help_text = _("A phone, a lead's name, a run number or a call SID.")
    actions = ["force_download"]
    readonly_fields = [
        "sid_display",
        "phone_display",
        "lead_name_display",
        "run_display",
        "business_display",
        "recording_sid_display",
        "duration_seconds",
        "size_bytes",
        "content_type",
        "downloaded_at",
        "created_at",
        "player",
    ]
    fields = readonly_fields
    inlines = [RecordingRunInline]

    def get_list_filter(self, request):
        return [BusinessFilter]

    def get_changelist(self, request, **kwargs):
        return WithCallsChangeList

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        from outbound.models import OutboundCallJob

        found, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return found, duplicates
        calls = Q(lead_name__icontains=term)
        digits = "".join(ch for ch in term if ch.isdigit())
        if digits:
            calls |= Q(phone__contains=digits.lstrip("0") or digits)
        if term.lstrip("#").isdigit():
            calls |= Q(run_id=int(term.lstrip("#")))
        sids = OutboundCallJob.objects.filter(calls, call_sid__isnull=False).values("call_sid")
        return found | queryset.filter(call_sid__in=sids), duplicates

    @admin.display(description=_("call SID"), ordering="call_sid")
    def sid_display(self, recording: Recording):
        return ltr(recording.call_sid)

    @admin.display(description=_("recording SID"))
    def recording_sid_display(self, recording: Recording):
        return ltr(recording.recording_sid)

    @admin.display(description=_("phone"))
    def phone_display(self, recording: Recording):
        call = _call_of(recording)
        return ltr(call.phone) if call else "-"

    @admin.display(description=_("lead"))
    def lead_name_display(self, recording: Recording):
        call = _call_of(recording)
        return (call.lead_name or "-") if call else "-"

    @admin.display(description=_("run"))
    def run_display(self, recording: Recording):
        call = _call_of(recording)
        return run_link(call.run_id) if call else "-"

    @admin.display(description=_("player"))
    def player(self, recording: Recording) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            business_url("recordings:player", business_id=recording.business_id, call_sid=recording.call_sid),
            _("Play"),
        )

    @admin.action(description=_("Try the download again (even after the final failure)"), permissions=["view"])
    def force_download(self, request, queryset):
        started = 0
        for recording in queryset:
            try:
                if services.recording_download_force(recording=recording, created_by=request.user) is not None:
                    started += 1
            except ApplicationError as error:
                self.message_user(
                    request, format_html("{}: {}", ltr(recording.call_sid), error.message), messages.WARNING
                )
        self.message_user(
            request,
            ngettext(
                "A download is under way for %(count)d recording.",
                "A download is under way for %(count)d recordings.",
                started,
            )
            % {"count": started},
            messages.SUCCESS if started else messages.INFO,
        )


@admin.register(RecordingRun)
class RecordingRunAdmin(ReadOnlyTenantAdmin):
    list_display = ["id_display", "sid_display", "business_display", "status", "attempts", "created_at", "finished_at"]
    list_display_links = ["id_display"]
    list_select_related = ["business"]
    search_fields = ["call_sid"]
    readonly_fields = [
        "outcome_display",
        "sid_display",
        "business_display",
        "status",
        "attempts",
        "created_at",
        "started_at",
        "heartbeat_at",
        "next_attempt_at",
        "finished_at",
    ]
    fields = readonly_fields
    change_form_template = "admin/callcenter/live_change_form.html"

    def get_list_filter(self, request):
        return ["status", BusinessFilter]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if run is not None:
            extra_context["title"] = format_html("{} {}", _("Recording download"), ltr(f"#{run.pk}"))
            extra_context["console_crumb"] = extra_context["title"]
            extra_context["subtitle"] = None  # the title names the object already
            extra_context["live"] = run.is_active
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("download"), ordering="id")
    def id_display(self, run: RecordingRun):
        return ltr(f"#{run.pk}")

    @admin.display(description=_("call SID"), ordering="call_sid")
    def sid_display(self, run: RecordingRun):
        return ltr(run.call_sid)

    @admin.display(description=_("what happened"))
    def outcome_display(self, run: RecordingRun):
        if run.status == RecordingRun.Status.QUEUED:
            sentence = _("Waiting for a worker to start the download.")
        elif run.status == RecordingRun.Status.RUNNING:
            sentence = _("Downloading the recording from Twilio.")
        elif run.status == RecordingRun.Status.SUCCEEDED:
            sentence = _("The recording was downloaded and can be played.")
        else:
            sentence = _(
                "The download failed. The player tries again by itself until the attempts run out; after "
                'that, choose the recording and "Try the download again".'
            )
        details = technical_details(run.error_message)
        if not details:
            return sentence
        return format_html(
            '<p>{}</p><details class="technical"><summary>{}</summary><p dir="ltr">{}</p></details>',
            sentence,
            _("Details"),
            details,
        )
