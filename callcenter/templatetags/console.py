import re

from django import template
from django.utils.html import strip_tags

register = template.Library()

_LTR_ISOLATE = re.compile(r'<bdi dir="ltr">(.*?)</bdi>', re.DOTALL)


@register.filter
def plain_title(value) -> str:
    """A title for <title>: tags removed, left-to-right isolates kept as the Unicode
    isolate marks (LRI ... PDI), which work where markup does not."""
    return strip_tags(_LTR_ISOLATE.sub("\u2066\\1\u2069", str(value)))
