"""Twilio's callback parameters, checked where they come in.

A signed callback whose values do not fit (a SID longer than any SID, a sequence number past
a 32-bit column, a NUL character) is acknowledged and ignored with a warning: an error answer
would only make Twilio send it again, and a value that reached the database would fail there.
"""

import logging

from django import forms
from django.http import HttpRequest

from callcenter.validators import unstorable_text

logger = logging.getLogger("callcenter.webhooks")

INT32_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
SID_PATTERN = r"^[A-Za-z0-9]{1,64}$"


def sid_field(*, required: bool = True) -> forms.RegexField:
    return forms.RegexField(regex=SID_PATTERN, required=required)


def count_field(*, required: bool = False, max_value: int = INT32_MAX) -> forms.IntegerField:
    return forms.IntegerField(min_value=0, max_value=max_value, required=required)


class TwilioCallbackForm(forms.Form):
    """The query string and the POST parameters of one callback, as one form."""

    def __init__(self, request: HttpRequest):
        data = request.GET.copy()
        for name, values in request.POST.lists():
            data.setlist(name, values)
        self.raw = data
        super().__init__(data=data)

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
