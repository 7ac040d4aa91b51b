"""The recording endpoints: one service (recordings.services.recording_prepare) behind both."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from callcenter.serializers import ErrorSerializer
from callcenter.tenancy import BUSINESS_HEADER, BUSINESS_QUERY_PARAMETER, BusinessFromQueryMixin, business_url
from recordings import services
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


def _preparing_response(state: services.RecordingState) -> Response:
    retry_after = settings.RECORDING_RETRY_AFTER_SECONDS
    data = {"job_id": state.run.pk, "status": state.run.status, "call_sid": state.recording.call_sid}
    data["retry_after"] = retry_after
    return Response(
        data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
    )


def recording_file_url(recording) -> str:
    return business_url("recordings:file", business_id=recording.business_id, call_sid=recording.call_sid)


class RecordingFileApi(RecordingApiMixin, APIView):
    @extend_schema(
        operation_id="recordings_file",
        summary="The recording's audio (or 202 while it is being prepared)",
        parameters=[
            BUSINESS_PARAMETER,
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
