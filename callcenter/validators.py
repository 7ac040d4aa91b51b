"""Text that PostgreSQL can store: no NUL character (text and jsonb refuse it) and no lone
UTF-16 surrogate (it cannot be encoded as UTF-8)."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def validate_storable_text(value: str) -> None:
    if unstorable_text(value):
        raise ValidationError(_("Null characters and lone surrogates are not allowed."), code="unstorable_text")


def validate_json_object(value, *, max_names: int, max_chars: int) -> None:
    """A JSON object to keep in a jsonb column: at most `max_names` names, every name and
    string (at any depth) storable and at most `max_chars` long."""
    if not isinstance(value, dict):
        raise ValidationError(_("An object of field names and values is required."), code="not_an_object")
    if len(value) > max_names:
        raise ValidationError(_("At most %(max)d fields.") % {"max": max_names}, code="too_many_fields")
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for name in item:
                if not isinstance(name, str) or not name:
                    raise ValidationError(_("Field names must be non-empty text."), code="invalid_name")
                _check_text(name, max_chars)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            _check_text(item, max_chars)


def _check_text(text: str, max_chars: int) -> None:
    validate_storable_text(text)
    if len(text) > max_chars:
        raise ValidationError(
            _("Names and values are at most %(max)d characters.") % {"max": max_chars}, code="too_long"
        )
