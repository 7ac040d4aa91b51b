import csv

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
from outbound.models import OutboundCallJob, OutboundCallRun
from outbound.serializers import (
    CallSerializer,
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


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = [
    "call_id",
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
        call_filter = CallFilter(request.GET, queryset=selectors.run_call_list(business=self.business, run_id=run_id))
        if not call_filter.is_valid():
            raise ValidationError(call_filter.errors)
        calls = call_filter.qs
        writer = csv.writer(_Echo())
        zone = business_zone(self.business)

        def local(moment) -> str:
            # The business's zone, like the JSON answers (the rows are generated after the
            # request's zone is deactivated, so it is named here).
            return moment.astimezone(zone).isoformat() if moment else ""

        def rows():
            yield "\ufeff" + writer.writerow(CSV_COLUMNS)
            for call in calls.iterator(chunk_size=1000):
                yield writer.writerow(
                    [
                        call.pk,
                        call.lead_id or "",
                        call.lead_name,
                        call.phone,
                        call.status,
                        call.outcome,
                        call.attempts,
                        "" if call.duration_seconds is None else call.duration_seconds,
                        call.call_sid or "",
                        call.answered_by,
                        call.error_code,
                        call.error_message,
                        local(call.dial_started_at),
                        local(call.answered_at),
                        local(call.ended_at),
                        recording_player_path(call) or "",
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="run-{run_id}-calls.csv"'
        return response
