import csv
import re
from datetime import tzinfo

import django_filters
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from callcenter.filtering import StrictFilterSet
from callcenter.serializers import ActiveJobErrorSerializer, ErrorSerializer, ValidationErrorSerializer
from callcenter.tenancy import BusinessScopedMixin, business_zone
from outbound import selectors, services
from outbound.models import CallAttempt, OutboundCallJob, OutboundCallRun
from outbound.serializers import (
    CallSerializer,
    LeadAttemptSerializer,
    RunProgressSerializer,
    RunStartedSerializer,
    RunStartSerializer,
    recording_player_path,
)


class RunListCreateApi(BusinessScopedMixin, generics.GenericAPIView):
    serializer_class = RunProgressSerializer
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no business
            return OutboundCallRun.objects.none()
        return selectors.run_list(business=self.business).order_by("-id")

    @extend_schema(responses={200: RunProgressSerializer(many=True)})
    def get(self, request):
        runs = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            [RunProgressSerializer(selectors.run_progress(run=run)).data for run in runs]
        )

    @extend_schema(
        request=RunStartSerializer,
        responses={201: RunStartedSerializer, 400: ValidationErrorSerializer, 409: ActiveJobErrorSerializer},
    )
    def post(self, request):
        serializer = RunStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.outbound_run_start(
            business=self.business,
            selection=serializer.selection(),
            concurrency=serializer.validated_data.get("concurrency"),
            created_by=request.user,
        )
        data = {"run_id": run.pk, "job_id": run.background_job_id, "status": run.status, "total_leads": run.total_leads}
        return Response(RunStartedSerializer(data).data, status=status.HTTP_201_CREATED)


class RunDetailApi(BusinessScopedMixin, APIView):
    @extend_schema(responses={200: RunProgressSerializer, 404: ErrorSerializer})
    def get(self, request, run_id: int):
        run = selectors.run_get(business=self.business, run_id=run_id)
        return Response(RunProgressSerializer(selectors.run_progress(run=run)).data)


class _RunControlApi(BusinessScopedMixin, APIView):
    control = None

    @extend_schema(request=None, responses={200: RunProgressSerializer, 404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request, run_id: int):
        run = self.control(business=self.business, run_id=run_id)
        return Response(RunProgressSerializer(selectors.run_progress(run=run)).data)


class RunPauseApi(_RunControlApi):
    control = staticmethod(services.outbound_run_pause)


class RunResumeApi(_RunControlApi):
    control = staticmethod(services.outbound_run_resume)


class RunCancelApi(_RunControlApi):
    control = staticmethod(services.outbound_run_cancel)


class CallFilter(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OutboundCallJob.Status.choices)
    outcome = django_filters.MultipleChoiceFilter(choices=OutboundCallJob.Outcome.choices)

    class Meta:
        model = OutboundCallJob
        fields = ["status", "outcome"]


class RunCallListApi(BusinessScopedMixin, generics.ListAPIView):
    serializer_class = CallSerializer
    filterset_class = CallFilter
    search_fields = ["phone", "lead_name"]
    ordering_fields = ["id", "ended_at", "duration_seconds"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no business
            return OutboundCallJob.objects.none()
        return selectors.run_call_list(business=self.business, run_id=self.kwargs["run_id"])


class LeadCallListApi(BusinessScopedMixin, generics.ListAPIView):
    """A lead's call attempts across runs, latest first."""

    serializer_class = LeadAttemptSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no business
            return CallAttempt.objects.none()
        return selectors.lead_attempt_list(business=self.business, lead_id=self.kwargs["lead_id"])


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = [
    "call_id",
    "attempt",
    "lead_id",
    "lead_name",
    "phone",
    "status",
    "outcome",
    "attempts",
    "duration_seconds",
    "call_sid",
    "answered_by",
    "error_code",
    "error_message",
    "dial_started_at",
    "answered_at",
    "ended_at",
    "recording_url",
]


class RunCallCsvApi(BusinessScopedMixin, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=OutboundCallJob.Status.values, many=True),
            OpenApiParameter("outcome", str, enum=OutboundCallJob.Outcome.values, many=True),
        ],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), 404: ErrorSerializer},
    )
    def get(self, request, run_id: int):
        """One line per attempt (a lead never dialed: one line without an attempt number),
        every cell safe to open in a spreadsheet, times in the business's zone."""
        call_filter = CallFilter(request.GET, queryset=selectors.run_call_list(business=self.business, run_id=run_id))
        if not call_filter.is_valid():
            raise ValidationError(call_filter.errors)
        calls = call_filter.qs
        writer = csv.writer(_Echo())
        # Named here: the rows are written after the request's zone is deactivated.
        zone = business_zone(self.business)

        def rows():
            yield "\ufeff" + writer.writerow(CSV_COLUMNS)
            for call in calls.iterator(chunk_size=1000):
                for line in call_csv_lines(call, zone=zone):
                    cells = zip(CSV_COLUMNS, line, strict=True)
                    yield writer.writerow([csv_cell(value, column) for column, value in cells])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="run-{run_id}-calls.csv"'
        return response


def call_csv_lines(call: OutboundCallJob, *, zone: tzinfo):
    """The CSV lines of one call: each finished attempt, then the one in progress."""
    common = [call.pk]
    lead = [call.lead_id or "", call.lead_name, call.phone, call.status]
    attempts = list(call.history.all())
    for attempt in attempts:
        yield [
            *common,
            attempt.attempt_number,
            *lead,
            attempt.outcome,
            call.attempts,
            _blank_none(attempt.duration_seconds),
            attempt.call_sid or "",
            attempt.answered_by,
            attempt.error_code,
            attempt.error_message,
            _iso(attempt.dial_started_at, zone),
            _iso(attempt.answered_at, zone),
            _iso(attempt.ended_at, zone),
            recording_player_path(attempt) or "",
        ]
    active = call.status in OutboundCallJob.ACTIVE_STATUSES
    if active or not attempts:
        yield [
            *common,
            call.attempts if active else "",
            *lead,
            "" if active else call.outcome,
            call.attempts,
            "",
            call.call_sid or "",
            call.answered_by,
            call.error_code,
            call.error_message,
            _iso(call.dial_started_at, zone),
            _iso(call.answered_at, zone),
            "" if active else _iso(call.ended_at, zone),
            "",
        ]


def _iso(value, zone: tzinfo) -> str:
    """ISO 8601 in the business's zone, like the JSON answers."""
    return value.astimezone(zone).isoformat() if value else ""


def _blank_none(value):
    return "" if value is None else value


# A cell a spreadsheet would run as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


def csv_cell(value, column: str = ""):
    """The value as written, unless a spreadsheet would take it for a formula: then it is
    quoted as text with a leading apostrophe. The phone column keeps an E.164 number as
    it is (a plus and digits carry no formula), so phones read back unchanged."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if column == "phone" and _E164.fullmatch(value):
        return value
    return "'" + value
