from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from callcenter.serializer_fields import StrictIntegerField
from callcenter.tenancy import business_url
from leads.serializers import lead_ids_field
from outbound.models import MAX_SLOTS, OutboundCallJob


class RunStartSerializer(serializers.Serializer):
    lead_ids = lead_ids_field()
    filter = serializers.DictField(required=False)
    concurrency = StrictIntegerField(required=False, min_value=1, max_value=MAX_SLOTS)

    def validate(self, attrs):
        if ("lead_ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError({"lead_ids": [_("Give either lead_ids or filter.")]})
        return attrs

    def selection(self) -> dict:
        data = self.validated_data
        if "lead_ids" in data:
            return {"lead_ids": sorted(set(data["lead_ids"]))}
        return {"filter": data["filter"]}


class RunStartedSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    job_id = serializers.IntegerField()
    status = serializers.CharField()
    total_leads = serializers.IntegerField()


class RunProgressSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    status = serializers.CharField()
    queued = serializers.IntegerField()
    in_progress = serializers.IntegerField(help_text="dialing + calling")
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    total_leads = serializers.IntegerField()
    concurrency = serializers.IntegerField()
    dialing = serializers.IntegerField()
    calling = serializers.IntegerField()
    canceled = serializers.IntegerField()
    skipped = serializers.IntegerField()
    job_id = serializers.IntegerField()
    cancel_requested = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(allow_blank=True)


class CallSerializer(serializers.ModelSerializer):
    call_id = serializers.IntegerField(source="pk", read_only=True)
    outcome = serializers.ChoiceField(
        choices=OutboundCallJob.Outcome.choices, allow_blank=True, read_only=True, help_text="Empty until final."
    )
    recording_url = serializers.SerializerMethodField()

    class Meta:
        model = OutboundCallJob
        fields = [
            "call_id",
            "lead_id",
            "lead_name",
            "phone",
            "status",
            "outcome",
            "attempts",
            "call_sid",
            "answered_by",
            "duration_seconds",
            "error_code",
            "error_message",
            "dial_started_at",
            "answered_at",
            "ended_at",
            "recording_url",
        ]
        read_only_fields = fields

    def get_recording_url(self, call: OutboundCallJob) -> str | None:
        return recording_player_path(call)


def recording_player_path(call: OutboundCallJob) -> str | None:
    """The recording player of an answered call (the business in the URL: an <audio>
    element cannot send the X-Business-Id header)."""
    if call.call_sid and call.answered_at:
        return business_url("recordings:player", business_id=call.business_id, call_sid=call.call_sid)
    return None
