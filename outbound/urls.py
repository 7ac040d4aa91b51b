from django.urls import path

from outbound import api, webhooks

urlpatterns = [
    path("api/outbound/runs", api.RunListCreateApi.as_view(), name="outbound-run-list"),
    path("api/outbound/runs/<int:run_id>", api.RunDetailApi.as_view(), name="outbound-run-detail"),
    path("api/outbound/runs/<int:run_id>/pause", api.RunPauseApi.as_view(), name="outbound-run-pause"),
    path("api/outbound/runs/<int:run_id>/resume", api.RunResumeApi.as_view(), name="outbound-run-resume"),
    path("api/outbound/runs/<int:run_id>/cancel", api.RunCancelApi.as_view(), name="outbound-run-cancel"),
    path("api/outbound/runs/<int:run_id>/calls", api.RunCallListApi.as_view(), name="outbound-run-calls"),
    path("api/outbound/runs/<int:run_id>/calls.csv", api.RunCallCsvApi.as_view(), name="outbound-run-calls-csv"),
    path("api/leads/<int:lead_id>/calls", api.LeadCallListApi.as_view(), name="lead-calls"),
    path("webhooks/twilio/call-status", webhooks.call_status_webhook, name="twilio-call-status"),
    path("webhooks/twilio/voice", webhooks.voice_webhook, name="twilio-voice"),
    path("webhooks/twilio/gather", webhooks.gather_webhook, name="twilio-gather"),
]
