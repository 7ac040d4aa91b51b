"""List filters that offer a staff user only what is theirs: their businesses, their runs,
their imports. The stock related-field filters list every row of the table."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from callcenter.admin_display import ltr
from callcenter.models import Business
from callcenter.tenancy import user_business_ids


def _visible_business_ids(request):
    return None if request.user.is_superuser else list(user_business_ids(request.user))


class _IdFilter(admin.SimpleListFilter):
    """Filters `field` by the chosen id; a value that is not an id matches nothing."""

    field = ""

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(**{self.field: int(self.value())})
        except ValueError:
            return queryset.none()


class BusinessFilter(_IdFilter):
    title = _("business")
    parameter_name = "business__id__exact"
    field = "business_id"

    def lookups(self, request, model_admin):
        businesses = Business.objects.order_by("name")
        visible = _visible_business_ids(request)
        if visible is not None:
            businesses = businesses.filter(pk__in=visible)
        found = [(str(business.pk), business.name) for business in businesses[:200]]
        return found if len(found) > 1 else []


class RecentOwnRowsFilter(_IdFilter):
    """The most recent rows of `model` the user may see, by id."""

    model = None
    shown = 30

    def label(self, row):
        return ltr(f"#{row.pk}")

    def lookups(self, request, model_admin):
        rows = self.model.objects.order_by("-id")
        visible = _visible_business_ids(request)
        if visible is not None:
            rows = rows.filter(business_id__in=visible)
        return [(str(row.pk), self.label(row)) for row in rows[: self.shown]]
