from django.urls import path

from leads import api

urlpatterns = [
    path("api/leads", api.LeadListCreateApi.as_view(), name="lead-list"),
    path("api/leads/<int:lead_id>", api.LeadDetailApi.as_view(), name="lead-detail"),
    path("api/leads/bulk-delete", api.LeadBulkDeleteApi.as_view(), name="lead-bulk-delete"),
    path("api/leads/bulk-update", api.LeadBulkUpdateApi.as_view(), name="lead-bulk-update"),
    path("api/leads/import", api.LeadImportApi.as_view(), name="lead-import"),
    path("api/leads/imports/<int:import_id>", api.LeadImportDetailApi.as_view(), name="lead-import-detail"),
    path("api/leads/imports/<int:import_id>/delete", api.LeadImportDeleteApi.as_view(), name="lead-import-delete"),
]
