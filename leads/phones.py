"""Phone numbers are stored in E.164; any way a person writes one is accepted.

`phonenumbers.parse` is most of an import's cost (~20-35 µs a number). The common shapes,
a national number of the default region (050-765 4321) or its international form
(+972 50 765 4321), are built directly from the region's metadata and only validated (~4 µs);
anything else, and anything the shortcut does not find valid, goes through `parse`.
"""

import re
from functools import lru_cache

import phonenumbers
import phonenumbers.timezone
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_NOT_DIALABLE = re.compile(r"[^\d+]")
# Spacing people put in numbers.
_SEPARATORS = re.compile(r"[\s\-().]")
_BARE_NUMBER = re.compile(r"\+?\d{4,17}")


_LETTER = re.compile(r"[^\W\d_]")


class InvalidPhone(ValidationError):
    """Not a phone number we can dial. A Django ValidationError, so forms and serializers
    show it as the field's error as is; `reason` says why, for logs and tests."""

    def __init__(self, reason: str):
        super().__init__(_("Enter a valid phone number."), code="invalid_phone")
        self.reason = reason


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """Return `raw` in E.164 (+972501234567) or raise InvalidPhone.

    The one phone validator: the API, the admin, the services and the CSV import all call it.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("empty")
    if _LETTER.search(text):
        # phonenumbers reads keypad letters as digits (050-abc-defg -> 050-222-3334).
        raise InvalidPhone("letters")
    region = region or settings.LEADS_DEFAULT_REGION
    bare = _SEPARATORS.sub("", text)
    if _BARE_NUMBER.fullmatch(bare):
        shortcut = _regional_e164(bare, region)
        if shortcut is not None:
            return shortcut
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhone(str(error)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=32)
def _region_rules(region: str):
    """(country code, national prefix, international prefix pattern) when the region's
    rules are simple enough for the shortcut, else None."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or not metadata.national_prefix or not metadata.international_prefix:
        return None
    national_prefix = metadata.national_prefix
    # A region that rewrites national numbers while parsing (a pattern, a transform rule)
    # is left to `parse`.
    if metadata.national_prefix_transform_rule or metadata.national_prefix_for_parsing not in (None, national_prefix):
        return None
    return metadata.country_code, national_prefix, re.compile(metadata.international_prefix)


def _regional_e164(bare: str, region: str) -> str | None:
    rules = _region_rules(region)
    if rules is None:
        return None
    country_code, national_prefix, international_prefix = rules
    if bare.startswith("+"):
        code = str(country_code)
        if not bare.startswith(code, 1):
            return None
        national = bare[1 + len(code) :]
    else:
        # "00..." / "012..." dial abroad; only the national prefix followed by the number is ours.
        if international_prefix.match(bare) or not bare.startswith(national_prefix):
            return None
        national = bare[len(national_prefix) :]
    if not national or national[0] == "0":
        return None
    if not _common_type_match(national, region):
        number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
        if not phonenumbers.is_valid_number_for_region(number, region):
            return None
    return f"+{country_code}{national}"


@lru_cache(maxsize=32)
def _common_types(region: str):
    """The region's general pattern and those of its mobile and fixed-line numbers."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return tuple(
        (re.compile(desc.national_number_pattern), frozenset(desc.possible_length or ()))
        for desc in (metadata.general_desc, metadata.mobile, metadata.fixed_line)
        if desc is not None and desc.national_number_pattern
    )


def _matches(national: str, pattern, lengths) -> bool:
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _common_type_match(national: str, region: str) -> bool:
    """True when the number is a valid mobile or fixed-line number of the region: what
    `is_valid_number_for_region` decides (the general pattern, then any type's pattern)
    asking the two types nearly every lead has first, instead of all ten. False means
    "ask phonenumbers", never "invalid"."""
    general, *types = _common_types(region)
    return _matches(national, *general) and any(_matches(national, *pattern) for pattern in types)


def phone_normalize_or_none(raw: str) -> str | None:
    try:
        return phone_normalize(raw)
    except InvalidPhone:
        return None


def phone_search_digits(raw: str) -> str:
    """The digits of a partial phone query, for a 'contains' match on stored numbers."""
    return _NOT_DIALABLE.sub("", raw or "").lstrip("+")


# Every prefix phonenumbers maps to time zones is at most this many digits long.
_TIME_ZONE_PREFIX_DIGITS = phonenumbers.timezone.TIMEZONE_LONGEST_PREFIX
_time_zone_of_prefix: dict[str, str] = {}


def phone_time_zone(phone: str, *, default: str) -> str:
    """The time zone of an E.164 number, or `default` (the business's zone) when the
    number maps to several zones or none (Israeli mobiles, toll-free, most mobiles)."""
    # The lookup reads only this prefix (and the number's type, alike across it), so an
    # import of many numbers asks phonenumbers once per prefix.
    prefix = phone[: 1 + _TIME_ZONE_PREFIX_DIGITS]
    zone = _time_zone_of_prefix.get(prefix)
    if zone is None:
        zone = _number_time_zone(phone)
        if len(_time_zone_of_prefix) < 100_000:
            _time_zone_of_prefix[prefix] = zone
    return zone or default


def _number_time_zone(phone: str) -> str:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ""
    zones = phonenumbers.timezone.time_zones_for_number(number)
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else ""
