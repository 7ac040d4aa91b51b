from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from callcenter.admin_base import ReadOnlyTenantAdmin, TenantScopedAdmin, guarded_job_fields
from callcenter.errors import ApplicationError
from callcenter.tenancy import business_url
from recordings import services
from recordings.models import Recording, RecordingRun


class RecordingRunInline(admin.TabularInline):
    model = RecordingRun
    extra = 0
    can_delete = False
    fields = ["id", "status", "attempts", "error_message", "created_at", "heartbeat_at", "finished_at"]
    readonly_fields = fields
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Recording)
class RecordingAdmin(TenantScopedAdmin):
    list_display = [
        "call_sid",
        "business",
        "recording_sid",
        "duration_seconds",
        "size_bytes",
        "downloaded_at",
        "player",
    ]
    list_filter = ["business"]
    list_select_related = ["business"]
    search_fields = ["call_sid", "recording_sid"]
    actions = ["force_download"]
    readonly_fields = [field.name for field in Recording._meta.fields] + ["player"]
    inlines = [RecordingRunInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("player"))
    def player(self, recording: Recording) -> str:
        return format_html(
            '<a href="{}" target="_blank">{}</a>',
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
                self.message_user(request, f"{recording.call_sid}: {error.message}", messages.WARNING)
        self.message_user(
            request,
            ngettext(
                "A download is under way for %(count)d recording.",
                "A download is under way for %(count)d recordings.",
                started,
            )
            % {"count": started},
            messages.SUCCESS,
        )


@admin.register(RecordingRun)
class RecordingRunAdmin(ReadOnlyTenantAdmin):
    list_display = ["id", "call_sid", "business", "status", "attempts", "created_at", "heartbeat_at", "finished_at"]
    list_filter = ["status", "business"]
    list_select_related = ["business"]
    search_fields = ["call_sid", "error_message"]
    readonly_fields = guarded_job_fields(RecordingRun)
