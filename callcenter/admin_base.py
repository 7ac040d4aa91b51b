from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import Http404
from django.utils.translation import gettext as _

from callcenter.models import GuardedJob
from callcenter.tenancy import user_business_ids

# The shared lifecycle fields of a guarded job, in the order its page shows them.
_LIFECYCLE_FIELDS = ["error_message", "created_by", "created_at", "started_at", "heartbeat_at", "finished_at"]


def guarded_job_fields(model: type[GuardedJob]) -> list[str]:
    """A guarded job's fields for its read-only page: id and status, what the job is about,
    then who started it and when it started, last beat and finished."""
    own = [field.name for field in model._meta.fields if field.name not in {"id", "status", *_LIFECYCLE_FIELDS}]
    return ["id", "status", *own, *_LIFECYCLE_FIELDS]


class TenantScopedAdmin(admin.ModelAdmin):
    """A model admin that shows a staff user only the rows of their own businesses.

    Another business's object is not in the queryset, and its pages answer 404 rather than
    the stock redirect, so nothing tells the user whether such an id exists.
    """

    business_field = "business"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.business_field}__in": user_business_ids(request.user)})

    def _require_visible(self, request, object_id) -> None:
        if object_id and self.get_object(request, unquote(object_id)) is None:
            raise Http404(_("Not found."))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._require_visible(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._require_visible(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._require_visible(request, object_id)
        return super().history_view(request, object_id, extra_context)


class ReadOnlyTenantAdmin(TenantScopedAdmin):
    """A record of what happened (jobs, runs, calls, imports): shown, never edited or deleted
    through its admin pages; changes go through the actions, which call services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
