from django.urls import path, register_converter

from recordings import api, views, webhooks

app_name = "recordings"


class SidConverter:
    """A Twilio SID (CA..., RE...): letters and digits only, so anything else is a 404."""

    regex = "[A-Za-z0-9]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SidConverter, "sid")

urlpatterns = [
    path("api/recordings/file/<sid:call_sid>", api.RecordingFileApi.as_view(), name="file"),
    path("api/recordings/<sid:call_sid>/prepare", api.RecordingPrepareApi.as_view(), name="prepare"),
    path("webhooks/twilio/recording-status", webhooks.recording_status_webhook, name="recording-status-webhook"),
    path("recordings/player/<sid:call_sid>", views.recording_player, name="player"),
]
