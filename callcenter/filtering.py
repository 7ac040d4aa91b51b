"""Filter sets whose parameters mean what the schema says: a parameter given with an empty
value (`?created_before=`) is invalid rather than silently no filter, except free text."""

import django_filters
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import FilterSet


class StrictFilterSet(FilterSet):
    def is_valid(self):
        valid = super().is_valid()
        getlist = getattr(self.data, "getlist", None)
        if getlist is None:
            return valid
        for name, filter_ in self.filters.items():
            if isinstance(filter_, django_filters.CharFilter) or name not in self.data:
                continue
            if any(value == "" for value in getlist(name)) and name not in self.form.errors:
                self.form.add_error(name, _("This field may not be blank."))
        return not self.form.errors
