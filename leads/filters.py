"""The one lead filter: the API's query parameters, job selections and the admin changelist
all speak it, so a "select all matching" job deletes exactly what the list showed."""

from datetime import timedelta

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import FilterSet

from leads.models import CallOutcome, Lead
from leads.phones import phone_normalize_or_none, phone_search_digits


def lead_search(queryset: QuerySet[Lead], query: str) -> QuerySet[Lead]:
    """Name, email or phone; a phone in any format (050-123 4567, +972501234567) matches."""
    query = (query or "").strip()
    if not query:
        return queryset
    condition = Q(name__icontains=query) | Q(email__icontains=query)
    phone = phone_normalize_or_none(query)
    if phone:
        condition |= Q(phone=phone)
    digits = phone_search_digits(query)
    if len(digits) >= 3:
        condition |= Q(phone__contains=digits)
        if digits.startswith("0"):
            # A local prefix (050...) is stored as +97250...: match without the trunk zero.
            condition |= Q(phone__contains=digits[1:])
    return queryset.filter(condition)


class LeadFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Lead.Status.choices, label=_("status"))
    do_not_call = django_filters.BooleanFilter(label=_("do not call"))
    lead_import = django_filters.NumberFilter(field_name="lead_import_id", label=_("import"))
    no_import = django_filters.BooleanFilter(field_name="lead_import", lookup_expr="isnull", label=_("not imported"))
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label=_("created from")
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label=_("created before")
    )
    last_outcome = django_filters.MultipleChoiceFilter(choices=CallOutcome.choices, label=_("last outcome"))
    last_called_after = django_filters.IsoDateTimeFilter(
        field_name="last_called_at", lookup_expr="gte", label=_("last called from")
    )
    last_called_before = django_filters.IsoDateTimeFilter(
        field_name="last_called_at", lookup_expr="lt", label=_("last called before")
    )
    last_called_within_days = django_filters.NumberFilter(
        method="filter_last_called_within_days", min_value=1, max_value=3650, label=_("called in the last days")
    )
    never_called = django_filters.BooleanFilter(
        field_name="last_called_at", lookup_expr="isnull", label=_("never called")
    )
    q = django_filters.CharFilter(method="filter_search", label=_("search"))

    class Meta:
        model = Lead
        fields = [
            "status",
            "do_not_call",
            "lead_import",
            "no_import",
            "created_after",
            "created_before",
            "last_outcome",
            "last_called_after",
            "last_called_before",
            "last_called_within_days",
            "never_called",
            "q",
        ]

    def filter_last_called_within_days(self, queryset, name, value):
        return queryset.filter(last_called_at__gte=timezone.now() - timedelta(days=int(value)))

    def filter_search(self, queryset, name, value):
        return lead_search(queryset, value)


LEAD_FILTER_FIELDS = frozenset(LeadFilter.base_filters)
BOOLEAN_FILTER_FIELDS = frozenset(
    name for name, field in LeadFilter.base_filters.items() if isinstance(field, django_filters.BooleanFilter)
)
