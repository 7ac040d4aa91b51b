from rest_framework import serializers

from callcenter.serializers import ErrorSerializer


class RecordingPreparingSerializer(serializers.Serializer):
    """202: the recording is being downloaded; ask again after Retry-After seconds."""

    job_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["queued", "running"])
    call_sid = serializers.CharField()
    retry_after = serializers.IntegerField(
        help_text="Seconds to wait before asking again (also the Retry-After header)."
    )


class RecordingReadySerializer(serializers.Serializer):
    """200 from prepare: the file can be fetched (and seeked) at `url`."""

    status = serializers.ChoiceField(choices=["ready"])
    call_sid = serializers.CharField()
    url = serializers.CharField(
        help_text="The file endpoint's path with `business_id`, `expires` and `signature`: a signed URL "
        "that needs no credentials until `expires` (RECORDING_URL_MAX_AGE_SECONDS, one hour by default). "
        "Past it the file endpoint answers 403 `recording_url_expired`: ask this endpoint again."
    )
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    duration = serializers.IntegerField(allow_null=True)


class RecordingUnavailableErrorSerializer(ErrorSerializer):
    """409 `recording_unavailable`: every allowed download attempt failed. No new job is
    started until staff force a new try from the admin."""

    call_sid = serializers.CharField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()


class RecordingNotFoundErrorSerializer(ErrorSerializer):
    call_sid = serializers.CharField(required=False, help_text="Absent when the path names no valid SID.")
