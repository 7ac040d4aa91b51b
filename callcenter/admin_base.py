from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from callcenter.tenancy import user_business_ids

# Labels of foreign keys declared without a verbose name (their label would be the English
# field name).
FIELD_LABELS = {
    "business": gettext_lazy("business"),
    "created_by": gettext_lazy("started by"),
    "user": gettext_lazy("user"),
    "lead": gettext_lazy("lead"),
    "run": gettext_lazy("run"),
    "recording": gettext_lazy("recording"),
    "job": gettext_lazy("job"),
}


class HebrewLabelsMixin:
    """Form fields of foreign keys without a verbose name get their Hebrew label."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        unnamed = db_field.verbose_name == db_field.name.replace("_", " ")
        if formfield is not None and db_field.name in FIELD_LABELS and unnamed:
            formfield.label = FIELD_LABELS[db_field.name]
        return formfield


class TenantScopedAdmin(HebrewLabelsMixin, admin.ModelAdmin):
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

    @admin.display(description=gettext_lazy("business"), ordering="business__name")
    def business_display(self, obj) -> str:
        return obj.business.name

    @admin.display(description=gettext_lazy("started by"))
    def created_by_display(self, obj) -> str:
        return str(obj.created_by) if obj.created_by_id else "-"

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
