from rest_framework import serializers

from callcenter.models import BackgroundJob


class BackgroundJobSerializer(serializers.ModelSerializer):
    job_id = serializers.IntegerField(source="pk", read_only=True)
    progress = serializers.SerializerMethodField()
    message = serializers.CharField(source="error_message", read_only=True)
    cancel_requested = serializers.SerializerMethodField()

    class Meta:
        model = BackgroundJob
        fields = [
            "job_id",
            "job_type",
            "status",
            "progress",
            "message",
            "result",
            "cancel_requested",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, job: BackgroundJob) -> dict:
        return {"done": job.progress_done, "total": job.progress_total, "percent": job.progress_percent}

    def get_cancel_requested(self, job: BackgroundJob) -> bool:
        return job.cancel_requested_at is not None


class JobAcceptedSerializer(serializers.Serializer):
    """The 202 answer of every endpoint that starts a background job."""

    job_id = serializers.IntegerField()
    status = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    code = serializers.CharField()


class ActiveJobErrorSerializer(ErrorSerializer):
    job_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["queued", "running"])


class ValidationErrorSerializer(ErrorSerializer):
    fields = serializers.DictField()
