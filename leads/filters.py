"""The one lead filter: the API's query parameters, job selections and the admin changelist
all speak it, so a "select all matching" job deletes exactly what the list showed."""

from datetime import UTC, timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from callcenter.filtering import StrictFilterSet
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


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time with any valid offset, compared in UTC: PostgreSQL refuses offsets past
    ±15:59 that Python accepts, and a time that leaves the calendar in UTC is invalid input."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StrictBooleanField(forms.NullBooleanField):
    """true/false (or 1/0); anything else is invalid instead of "no filter", because a
    filter silently dropped widens a bulk job's selection."""

    widget = forms.TextInput  # the select widget reads any unknown text as "unknown"

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValidationError(_("Use true or false."), code="invalid")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class LeadFilter(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Lead.Status.choices, label=_("status"))
    do_not_call = StrictBooleanFilter(label=_("do not call"))
    lead_import = django_filters.NumberFilter(field_name="lead_import_id", label=_("import"))
    no_import = StrictBooleanFilter(field_name="lead_import", lookup_expr="isnull", label=_("not imported"))
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label=_("created from"))
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label=_("created before"))
    last_outcome = django_filters.MultipleChoiceFilter(choices=CallOutcome.choices, label=_("last outcome"))
    last_called_after = UtcIsoDateTimeFilter(
        field_name="last_called_at", lookup_expr="gte", label=_("last called from")
    )
    last_called_before = UtcIsoDateTimeFilter(
        field_name="last_called_at", lookup_expr="lt", label=_("last called before")
    )
    last_called_within_days = django_filters.NumberFilter(
        method="filter_last_called_within_days", min_value=1, max_value=3650, label=_("called in the last days")
    )
    never_called = StrictBooleanFilter(field_name="last_called_at", lookup_expr="isnull", label=_("never called"))
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
