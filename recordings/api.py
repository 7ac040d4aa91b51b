"""The recording endpoints: one service (recordings.services.recording_prepare) behind both;
the file endpoint given a signed URL (recordings.signed_urls) takes a lean path to it."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from callcenter.api_errors import application_error_response, exception_handler
from callcenter.errors import ApplicationError
from callcenter.ops import logs
from callcenter.serializers import ErrorSerializer
from callcenter.tenancy import BUSINESS_HEADER, BUSINESS_QUERY_PARAMETER, BusinessFromQueryMixin
from recordings import services, signed_urls
from recordings.file_responses import recording_file_response
from recordings.serializers import (
    RecordingNotFoundErrorSerializer,
    RecordingPreparingSerializer,
    RecordingReadySerializer,
    RecordingUnavailableErrorSerializer,
)

BUSINESS_PARAMETER = OpenApiParameter(
    BUSINESS_QUERY_PARAMETER,
    OpenApiTypes.INT,
    OpenApiParameter.QUERY,
    description=f"The business to act for, like the {BUSINESS_HEADER} header (an <audio> element cannot send headers).",
)
COMMON_ERRORS = {
    404: OpenApiResponse(
        RecordingNotFoundErrorSerializer,
        description="Unknown call, another business's call, or a call without a recording.",
    ),
    409: OpenApiResponse(
        RecordingUnavailableErrorSerializer,
        description='`code: "recording_unavailable"`: RECORDING_MAX_FAILED_RUNS download runs failed '
        "(`attempts` in the body); no new job is started until staff force a new try from the admin. "
        "Final: clients stop asking.",
    ),
    503: OpenApiResponse(
        ErrorSerializer,
        description="A new download job could not be created or queued; no active job is left behind. Try again.",
    ),
}
PREPARING = OpenApiResponse(
    RecordingPreparingSerializer,
    description="Being downloaded (a job was created, is active, or replaced a stuck one). "
    "Ask again after the `Retry-After` header's seconds.",
)


class _IgnoreClientContentNegotiation(BaseContentNegotiation):
    """Media elements send Accept headers no renderer matches; our answers are JSON or the file."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class RecordingApiMixin(BusinessFromQueryMixin):
    # An <audio> element cannot send the X-Business-Id header: ?business_id= names it.
    content_negotiation_class = _IgnoreClientContentNegotiation


def _preparing_answer(state: services.RecordingState) -> tuple[dict, dict]:
    retry_after = settings.RECORDING_RETRY_AFTER_SECONDS
    data = {"job_id": state.run.pk, "status": state.run.status, "call_sid": state.recording.call_sid}
    data["retry_after"] = retry_after
    return data, {"Retry-After": str(retry_after), "Cache-Control": "no-store"}


def _preparing_response(state: services.RecordingState) -> Response:
    data, headers = _preparing_answer(state)
    return Response(data, status=status.HTTP_202_ACCEPTED, headers=headers)


class _SignedRequestThrottle(SimpleRateThrottle):
    """Refused signed URLs count against the client IP's anonymous rate ("anon"): they are
    requests without valid credentials."""

    scope = "anon"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _signed_file_response(request: HttpRequest, call_sid: str) -> HttpResponse:
    """The file endpoint for a signed URL, without DRF's per-request machinery (no
    authentication, membership, throttling or content negotiation to run): a player asks
    this once per range, and the signature already stands for those checks."""
    try:
        business_id = signed_urls.recording_url_verify(query=request.GET, call_sid=call_sid)
    except ApplicationError as refused:
        throttle = _SignedRequestThrottle()
        if not throttle.allow_request(request, None):
            return _throttled_response(Throttled(wait=throttle.wait()))
        return application_error_response(refused)
    logs.bind(business_id=business_id)
    try:
        state = services.recording_prepare_signed(business_id=business_id, call_sid=call_sid)
    except ApplicationError as error:
        return application_error_response(error)
    if state.is_ready:
        return recording_file_response(request, state.recording)
    data, headers = _preparing_answer(state)
    return JsonResponse(data, status=status.HTTP_202_ACCEPTED, headers=headers)


def _throttled_response(throttled: Throttled) -> HttpResponse:
    answer = exception_handler(throttled, {})  # the API's one mapping, rendered without DRF
    return JsonResponse(
        answer.data,
        status=answer.status_code,
        headers={"Retry-After": answer["Retry-After"]},
        json_dumps_params={"ensure_ascii": False},
    )


def recording_file_url(recording) -> str:
    """The URL a player reads the recording from: signed, so its range requests skip the
    authentication and membership lookups (recordings.signed_urls)."""
    return signed_urls.recording_signed_url(business_id=recording.business_id, call_sid=recording.call_sid)


class RecordingFileApi(RecordingApiMixin, APIView):
    def dispatch(self, request, *args, **kwargs):
        if request.method in ("GET", "HEAD") and signed_urls.is_signed(request.GET):
            return _signed_file_response(request, kwargs["call_sid"])
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="recordings_file",
        summary="The recording's audio (or 202 while it is being prepared)",
        parameters=[
            BUSINESS_PARAMETER,
            OpenApiParameter(
                signed_urls.EXPIRES_PARAMETER,
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                description="With `signature`: when the signed URL expires (Unix time).",
            ),
            OpenApiParameter(
                signed_urls.SIGNATURE_PARAMETER,
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                description="A signed URL, as the prepare endpoint's `url` gives it: the signature of "
                "`business_id`, the call and `expires`. It stands for the credentials and the membership "
                "check until `expires`, even if the membership is removed meanwhile; no token or session "
                "is needed.",
            ),
            OpenApiParameter("Range", OpenApiTypes.STR, OpenApiParameter.HEADER, description="One range: bytes=a-b"),
            OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        responses={
            (200, "audio/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The audio, with ETag and Accept-Ranges."
            ),
            (206, "audio/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The requested byte range (Content-Range)."
            ),
            202: PREPARING,
            304: OpenApiResponse(description="Unchanged (If-None-Match matched the ETag)."),
            403: OpenApiResponse(
                ErrorSerializer,
                description='A signed URL whose signature does not match (`code: "recording_url_invalid"`) or '
                'that has expired (`code: "recording_url_expired"`: ask the prepare endpoint for a new one); '
                "without a signature, the business is not one of the user's.",
            ),
            416: OpenApiResponse(description="The range starts past the end of the file."),
            **COMMON_ERRORS,
        },
    )
    def get(self, request, call_sid: str):
        state = services.recording_prepare(business=self.business, call_sid=call_sid, created_by=request.user)
        if state.is_ready:
            return recording_file_response(request, state.recording)
        return _preparing_response(state)


class RecordingPrepareApi(RecordingApiMixin, APIView):
    @extend_schema(
        operation_id="recordings_prepare",
        summary="Make sure the recording is (being) downloaded",
        request=None,
        parameters=[BUSINESS_PARAMETER],
        responses={200: RecordingReadySerializer, 202: PREPARING, **COMMON_ERRORS},
    )
    def post(self, request, call_sid: str):
        state = services.recording_prepare(business=self.business, call_sid=call_sid, created_by=request.user)
        if not state.is_ready:
            return _preparing_response(state)
        recording = state.recording
        return Response(
            {
                "status": "ready",
                "call_sid": recording.call_sid,
                "url": recording_file_url(recording),
                "content_type": recording.content_type,
                "size": recording.size_bytes,
                "duration": recording.duration_seconds,
            },
            headers={"Cache-Control": "no-store"},
        )
