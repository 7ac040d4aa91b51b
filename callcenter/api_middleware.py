"""Errors under /api/ are the documented JSON even when Django, not a DRF view, answers:
an unknown path (a trailing slash, a non-integer id), a body Django refused, a server error."""

from django.http import JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

API_PREFIX = "/api/"

_ERRORS = {
    400: ("invalid", gettext_lazy("Invalid input.")),
    403: ("permission_denied", gettext_lazy("You do not have permission to perform this action.")),
    404: ("not_found", gettext_lazy("Not found.")),
    405: ("method_not_allowed", gettext_lazy("Method not allowed.")),
    413: ("payload_too_large", gettext_lazy("The request body is larger than this server accepts.")),
    416: ("range_not_satisfiable", gettext_lazy("The requested range is not in the file.")),
    429: ("throttled", gettext_lazy("Too many requests; try again later.")),
    500: ("internal_error", gettext_lazy("The server could not complete the request.")),
}


def api_error_response(status_code: int, **extra) -> JsonResponse:
    code, message = _ERRORS.get(status_code, ("error", gettext_lazy("The request could not be completed.")))
    data = {"error": str(message), "code": code, **extra}
    if status_code == 400:
        data.setdefault("fields", {})
    return JsonResponse(data, status=status_code, json_dumps_params={"ensure_ascii": False})


_BODY_HEADERS = {"content-type", "content-length", "content-disposition", "content-encoding"}


def _is_json(response) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().endswith("json")


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        # PostgreSQL text cannot hold NUL: a query parameter with one is refused here, once.
        bad = sorted({name for name, value in request.GET.lists() if "\x00" in name or any("\x00" in v for v in value)})
        if bad:
            return api_error_response(400, fields={name: [_("Null characters are not allowed.")] for name in bad})
        try:
            response = self.get_response(request)
        finally:
            # The business's zone, activated for this request's times (callcenter.tenancy).
            timezone.deactivate()
        if response.status_code >= 400 and not response.streaming and not _is_json(response):
            replacement = api_error_response(response.status_code)
            for header, value in response.items():
                if header.lower() not in _BODY_HEADERS:
                    replacement[header] = value
            return replacement
        return response
