"""Thin DRF views over leads' selectors and services."""

from django.conf import settings
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from callcenter.serializers import (
    ActiveJobErrorSerializer,
    ErrorSerializer,
    JobAcceptedSerializer,
    ValidationErrorSerializer,
)
from callcenter.tenancy import BusinessScopedMixin
from leads import imports, selectors, services
from leads.filters import LeadFilter
from leads.models import Lead
from leads.serializers import (
    LeadBulkUpdateSerializer,
    LeadImportAcceptedSerializer,
    LeadImportSerializer,
    LeadImportUploadSerializer,
    LeadSelectionSerializer,
    LeadSerializer,
)

# Room for the multipart headers around the file in the request's Content-Length.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

JOB_RESPONSES = {202: JobAcceptedSerializer, 400: ValidationErrorSerializer, 409: ActiveJobErrorSerializer}


def _accepted(job) -> Response:
    return Response({"job_id": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)


class LeadListCreateApi(BusinessScopedMixin, generics.ListCreateAPIView):
    serializer_class = LeadSerializer
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = LeadFilter
    ordering_fields = ["id", "created_at", "updated_at", "name", "phone", "status"]
    ordering = ["-id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no request business
            return Lead.objects.none()
        return selectors.lead_list(business=self.business)

    @extend_schema(responses={201: LeadSerializer, 400: ValidationErrorSerializer})
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.lead_create(business=self.business, **serializer.validated_data)


class LeadDetailApi(BusinessScopedMixin, generics.RetrieveUpdateDestroyAPIView):
    serializer_class = LeadSerializer

    def get_object(self):
        return selectors.lead_get(business=self.business, lead_id=self.kwargs["lead_id"])

    @extend_schema(responses={200: LeadSerializer, 404: ErrorSerializer})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(responses={200: LeadSerializer, 400: ValidationErrorSerializer, 404: ErrorSerializer})
    def put(self, request, *args, **kwargs):
        return super().put(request, *args, **kwargs)

    @extend_schema(responses={200: LeadSerializer, 400: ValidationErrorSerializer, 404: ErrorSerializer})
    def patch(self, request, *args, **kwargs):
        return super().patch(request, *args, **kwargs)

    @extend_schema(responses={204: None, 404: ErrorSerializer, 409: ErrorSerializer})
    def delete(self, request, *args, **kwargs):
        return super().delete(request, *args, **kwargs)

    def perform_update(self, serializer):
        serializer.instance = services.lead_update(
            business=self.business, lead_id=serializer.instance.pk, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.lead_delete(business=self.business, lead_id=instance.pk)


class LeadBulkDeleteApi(BusinessScopedMixin, APIView):
    @extend_schema(request=LeadSelectionSerializer, responses=JOB_RESPONSES)
    def post(self, request):
        serializer = LeadSelectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = services.leads_bulk_delete_start(
            business=self.business, selection=serializer.selection(), created_by=request.user
        )
        return _accepted(job)


class LeadBulkUpdateApi(BusinessScopedMixin, APIView):
    @extend_schema(request=LeadBulkUpdateSerializer, responses=JOB_RESPONSES)
    def post(self, request):
        serializer = LeadBulkUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = services.leads_bulk_update_start(
            business=self.business,
            selection=serializer.selection(),
            changes=serializer.changes(),
            created_by=request.user,
        )
        return _accepted(job)


class LeadImportApi(BusinessScopedMixin, APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request=LeadImportUploadSerializer,
        responses={
            202: LeadImportAcceptedSerializer,
            400: ValidationErrorSerializer,
            409: ActiveJobErrorSerializer,
            413: ValidationErrorSerializer,
        },
    )
    def post(self, request):
        # Refused before the body is read: a huge upload is never parsed or stored.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.LEADS_IMPORT_MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES:
            raise imports.import_file_too_large()
        serializer = LeadImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead_import = imports.lead_import_start(
            business=self.business, uploaded_file=serializer.validated_data["file"], created_by=request.user
        )
        return Response(
            {"job_id": lead_import.job_id, "status": lead_import.job.status, "import_id": lead_import.pk},
            status=status.HTTP_202_ACCEPTED,
        )


class LeadImportDetailApi(BusinessScopedMixin, APIView):
    @extend_schema(responses={200: LeadImportSerializer, 404: ErrorSerializer})
    def get(self, request, import_id: int):
        lead_import = selectors.lead_import_get(business=self.business, import_id=import_id)
        return Response(LeadImportSerializer(lead_import).data)


class LeadImportDeleteApi(BusinessScopedMixin, APIView):
    @extend_schema(request=None, responses={**JOB_RESPONSES, 404: ErrorSerializer})
    def post(self, request, import_id: int):
        job = services.lead_import_delete_start(business=self.business, import_id=import_id, created_by=request.user)
        return _accepted(job)
