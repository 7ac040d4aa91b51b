from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from callcenter import api
from callcenter.ops import views as ops_views

api_patterns = [
    path("jobs", api.JobListApi.as_view(), name="job-list"),
    path("jobs/<int:job_id>", api.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel", api.JobCancelApi.as_view(), name="job-cancel"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]


def favicon(request):
    return HttpResponsePermanentRedirect(static("callcenter/favicon.svg"))


urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/", include(api_patterns)),
    # Each app's urls.py names its full paths (/api/leads..., /webhooks/twilio/...).
    path("", include("leads.urls")),
    path("", include("outbound.urls")),
    path("", include("recordings.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon.
    path("favicon.ico", favicon),
]
