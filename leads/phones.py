"""Phone numbers are stored in E.164; any way a person writes one is accepted."""

import re

import phonenumbers
from django.conf import settings

_NOT_DIALABLE = re.compile(r"[^\d+]")
# Spacing people put in numbers; parsing the bare digits is about twice as fast.
_SEPARATORS = re.compile(r"[\s\-().]")
_BARE_NUMBER = re.compile(r"\+?\d{4,17}")


class InvalidPhone(ValueError):
    pass


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """Return `raw` in E.164 (+972501234567) or raise InvalidPhone."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("empty")
    region = region or settings.LEADS_DEFAULT_REGION
    bare = _SEPARATORS.sub("", text)
    if bare != text and _BARE_NUMBER.fullmatch(bare):
        number = _valid_or_none(bare, region)
        if number is not None:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # The text as written (e.g. "+972 (0)50...", where dropping the parentheses changes it).
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhone(str(error)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _valid_or_none(text: str, region: str):
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def phone_normalize_or_none(raw: str) -> str | None:
    try:
        return phone_normalize(raw)
    except InvalidPhone:
        return None


def phone_search_digits(raw: str) -> str:
    """The digits of a partial phone query, for a 'contains' match on stored numbers."""
    return _NOT_DIALABLE.sub("", raw or "").lstrip("+")
