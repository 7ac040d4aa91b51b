from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from callcenter.serializer_fields import StrictIntegerField
from callcenter.tenancy import business_url
from leads.serializers import lead_ids_field
from outbound.models import MAX_SLOTS, CallAttempt, OutboundCallJob
from outbound.selectors import OUTCOME_KEYS


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


# One count per final outcome: the fields follow the outcomes, so a new outcome is listed too.
RunOutcomesSerializer = type(
    "RunOutcomesSerializer",
    (serializers.Serializer,),
    {"__module__": __name__, **{key: serializers.IntegerField() for key in OUTCOME_KEYS}},
)


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
    outcomes = RunOutcomesSerializer(help_text="finished leads by final outcome")
    answer_rate = serializers.FloatField(
        allow_null=True, help_text="answered (opting out included) / finished leads that were tried"
    )
    eta_seconds = serializers.IntegerField(allow_null=True, help_text="time left at the pace so far; null: no pace yet")
    waiting_for_calling_hours = serializers.BooleanField(
        help_text="every remaining lead is outside its calling hours; the run resumes by itself"
    )
    next_call_at = serializers.DateTimeField(allow_null=True, help_text="when the next queued call is due")


ATTEMPT_FIELDS = [
    "attempt",
    "call_sid",
    "claimed_at",
    "dial_started_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "twilio_status",
    "answered_by",
    "outcome",
    "error_code",
    "error_message",
    "recording_url",
]


class CallAttemptSerializer(serializers.ModelSerializer):
    attempt = serializers.IntegerField(source="attempt_number", read_only=True)
    recording_url = serializers.SerializerMethodField()

    class Meta:
        model = CallAttempt
        fields = ATTEMPT_FIELDS
        read_only_fields = fields

    def get_recording_url(self, attempt: CallAttempt) -> str | None:
        return recording_player_path(attempt)


class LeadAttemptSerializer(CallAttemptSerializer):
    attempt_id = serializers.IntegerField(source="pk", read_only=True)

    class Meta(CallAttemptSerializer.Meta):
        fields = ["attempt_id", "run_id", "call_id", "lead_id", "phone", "lead_name", *ATTEMPT_FIELDS]
        read_only_fields = fields


class CallSerializer(serializers.ModelSerializer):
    call_id = serializers.IntegerField(source="pk", read_only=True)
    outcome = serializers.ChoiceField(
        choices=OutboundCallJob.Outcome.choices, allow_blank=True, read_only=True, help_text="Empty until final."
    )
    recording_url = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

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
            "history",
        ]
        read_only_fields = fields

    def get_recording_url(self, call: OutboundCallJob) -> str | None:
        return recording_player_path(call)

    @extend_schema_field(CallAttemptSerializer(many=True))
    def get_history(self, call: OutboundCallJob) -> list[dict]:
        """Its finished attempts, then the one in progress (no outcome, no end yet)."""
        history = CallAttemptSerializer(call.history.all(), many=True).data
        if call.status in OutboundCallJob.ACTIVE_STATUSES:
            history.append(_attempt_in_progress(call))
        return history


def _datetime(value) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None


def _attempt_in_progress(call: OutboundCallJob) -> dict:
    return {
        "attempt": call.attempts,
        "call_sid": call.call_sid,
        "claimed_at": _datetime(call.claimed_at),
        "dial_started_at": _datetime(call.dial_started_at),
        "answered_at": _datetime(call.answered_at),
        "ended_at": None,
        "duration_seconds": None,
        "twilio_status": call.twilio_status,
        "answered_by": call.answered_by,
        "outcome": "",
        "error_code": "",
        "error_message": "",
        "recording_url": None,
    }


def recording_player_path(call: OutboundCallJob | CallAttempt) -> str | None:
    """The recording player of an answered call or attempt (the business in the URL: an
    <audio> element cannot send the X-Business-Id header)."""
    if call.call_sid and call.answered_at:
        return business_url("recordings:player", business_id=call.business_id, call_sid=call.call_sid)
    return None
