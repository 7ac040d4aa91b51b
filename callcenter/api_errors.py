"""The one place where errors become API responses: {"error", "code"} always, and
"fields" on every 400."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from callcenter.errors import ApplicationError, PayloadTooLarge


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError(_("The request has too many form fields."), code="too_many_fields")
    if isinstance(exc, ApplicationError):
        return Response(application_error_data(exc), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": _("Invalid input."), "code": "invalid", "fields": _as_field_errors(exc.detail)}
        response.status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = detail if isinstance(detail, str) else str(detail)
        response.data = {"error": message, "code": getattr(detail, "code", exc.default_code)}
        if response.status_code == status.HTTP_400_BAD_REQUEST:
            response.data["fields"] = {}
    return response


def application_error_data(exc: ApplicationError) -> dict:
    data = exc.as_dict()
    if exc.status_code == status.HTTP_400_BAD_REQUEST:
        data.setdefault("fields", {})
    return data


def application_error_response(exc: ApplicationError) -> JsonResponse:
    """The same answer as exception_handler's, for the few views that bypass DRF."""
    return JsonResponse(application_error_data(exc), status=exc.status_code, json_dumps_params={"ensure_ascii": False})


def _as_field_errors(detail):
    if isinstance(detail, dict):
        return {key: _as_field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [str(item) for item in detail]
        return [_as_field_errors(item) for item in detail]
    return {"non_field_errors": [str(detail)]} if isinstance(detail, str) else detail
