from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from callcenter import selectors, services
from callcenter.filtering import StrictFilterSet
from callcenter.models import BackgroundJob
from callcenter.serializers import BackgroundJobSerializer, ErrorSerializer
from callcenter.tenancy import BusinessScopedMixin


class BackgroundJobFilter(StrictFilterSet):
    class Meta:
        model = BackgroundJob
        fields = ["job_type", "status"]


class JobListApi(BusinessScopedMixin, generics.ListAPIView):
    serializer_class = BackgroundJobSerializer
    filterset_class = BackgroundJobFilter
    ordering_fields = ["created_at", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no request business
            return BackgroundJob.objects.none()
        return selectors.background_job_list(business=self.business)


class JobDetailApi(BusinessScopedMixin, APIView):
    @extend_schema(responses={200: BackgroundJobSerializer, 404: ErrorSerializer})
    def get(self, request, job_id: int):
        job = selectors.background_job_get(business=self.business, job_id=job_id)
        return Response(BackgroundJobSerializer(job).data)


class JobCancelApi(BusinessScopedMixin, APIView):
    @extend_schema(request=None, responses={202: BackgroundJobSerializer, 404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request, job_id: int):
        job = services.background_job_request_cancel(business=self.business, job_id=job_id)
        return Response(BackgroundJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
