"""Twilio's callback parameters, checked where they come in.

A signed callback whose values do not fit (a SID longer than any SID, a sequence number past
a 32-bit column, a NUL character) is acknowledged and ignored with a warning: an error answer
would only make Twilio send it again, and a value that reached the database would fail there.
"""

import logging

from django import forms
from django.forms.forms import DeclarativeFieldsMetaclass
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict

from callcenter.validators import unstorable_text

logger = logging.getLogger("callcenter.webhooks")

INT32_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
SID_PATTERN = r"^[A-Za-z0-9]{1,64}$"


def sid_field(*, required: bool = True) -> forms.RegexField:
    return forms.RegexField(regex=SID_PATTERN, required=required)


def count_field(*, required: bool = False, max_value: int = INT32_MAX) -> forms.IntegerField:
    return forms.IntegerField(min_value=0, max_value=max_value, required=required)


class _SharedFields(dict):
    """A callback form's fields, shared by all its instances (see TwilioCallbackForm)."""

    def __deepcopy__(self, memo):
        return self


class _CallbackFormMetaclass(DeclarativeFieldsMetaclass):
    def __new__(mcs, name, bases, attrs):
        form_class = super().__new__(mcs, name, bases, attrs)
        form_class.base_fields = _SharedFields(form_class.base_fields)
        return form_class


class TwilioCallbackForm(forms.Form, metaclass=_CallbackFormMetaclass):
    """The query string and the POST parameters of one callback, as one form.

    It only validates, it is never rendered, so its instances share the class's fields:
    Django deep-copies them for each form (for rendering's sake), which a webhook would pay
    on every callback.
    """

    def __init__(self, request: HttpRequest):
        # A POST parameter wins over a query parameter of the same name.
        self.raw = MultiValueDict({**dict(request.GET.lists()), **dict(request.POST.lists())})
        super().__init__(data=self.raw)

    def clean(self):
        cleaned = super().clean()
        for name, values in self.raw.lists():
            if unstorable_text(name) or any(unstorable_text(value) for value in values):
                raise forms.ValidationError("a parameter holds a NUL character or a lone surrogate")
        return cleaned

    def ignored(self, request: HttpRequest) -> bool:
        """True (and a warning naming the bad parameters, never their values) when invalid."""
        if self.is_valid():
            return False
        logger.warning(
            "ignored a signed Twilio callback with invalid parameters: %s %s",
            request.path,
            ", ".join(sorted(self.errors)),
        )
        return True
