from django.urls import path

from recordings import api, views, webhooks

app_name = "recordings"

urlpatterns = [
    path("api/recordings/file/<str:call_sid>", api.RecordingFileApi.as_view(), name="file"),
    path("api/recordings/<str:call_sid>/prepare", api.RecordingPrepareApi.as_view(), name="prepare"),
    path("webhooks/twilio/recording-status", webhooks.recording_status_webhook, name="recording-status-webhook"),
    path("recordings/player/<str:call_sid>", views.recording_player, name="player"),
]
