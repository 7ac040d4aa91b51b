"""JSON bodies with a bounded nesting depth: a body nested thousands deep would otherwise
exhaust the parser's recursion (a server error) or the database's JSON handling."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def json_depth(value) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            too_deep = json_depth(data) > settings.API_MAX_JSON_DEPTH
        except RecursionError:
            too_deep = True
        if too_deep:
            raise ParseError(
                _("JSON nested deeper than %(depth)d levels is not accepted.") % {"depth": settings.API_MAX_JSON_DEPTH}
            )
        return data
