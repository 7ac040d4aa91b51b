from django.urls import path

from recordings import api, views

app_name = "recordings"

urlpatterns = [
    path("api/recordings/file/<str:call_sid>", api.RecordingFileApi.as_view(), name="file"),
    path("api/recordings/<str:call_sid>/prepare", api.RecordingPrepareApi.as_view(), name="prepare"),
    path("recordings/player/<str:call_sid>", views.recording_player, name="player"),
]
