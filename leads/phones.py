"""Phone numbers are stored in E.164; any way a person writes one is accepted."""

import re

import phonenumbers
from django.conf import settings

_NOT_DIALABLE = re.compile(r"[^\d+]")


class InvalidPhone(ValueError):
    pass


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """Return `raw` in E.164 (+972501234567) or raise InvalidPhone."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("empty")
    try:
        number = phonenumbers.parse(text, region or settings.LEADS_DEFAULT_REGION)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhone(str(error)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_normalize_or_none(raw: str) -> str | None:
    try:
        return phone_normalize(raw)
    except InvalidPhone:
        return None


def phone_search_digits(raw: str) -> str:
    """The digits of a partial phone query, for a 'contains' match on stored numbers."""
    return _NOT_DIALABLE.sub("", raw or "").lstrip("+")
