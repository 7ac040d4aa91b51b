from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from callcenter.urls import urlpatterns as project_urlpatterns

# Baseline only: Django's plain static file view over MEDIA_ROOT, no auth, no Range.
urlpatterns = [
    *project_urlpatterns,
    re_path(r"^bench-media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
