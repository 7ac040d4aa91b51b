from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from callcenter.serializer_fields import StrictBooleanField, StrictCharField, StrictIntegerField, StrictModelSerializer
from callcenter.serializers import BackgroundJobSerializer, JobAcceptedSerializer
from callcenter.validators import validate_json_object
from leads.models import Lead, LeadImport
from leads.phones import phone_normalize


def validate_custom_fields(value: dict) -> dict:
    try:
        validate_json_object(
            value, max_names=settings.LEADS_MAX_CUSTOM_FIELDS, max_chars=settings.LEADS_MAX_CUSTOM_FIELD_CHARS
        )
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.messages) from None
    return value


def lead_ids_field() -> serializers.ListField:
    return serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        allow_empty=False,
        max_length=settings.API_MAX_IDS_PER_REQUEST,
        help_text=_("At most API_MAX_IDS_PER_REQUEST ids; a filter selects more."),
    )


class LeadSerializer(StrictModelSerializer):
    phone = StrictCharField(max_length=40, help_text=_("Any format; stored in E.164."))
    custom_fields = serializers.DictField(
        required=False, help_text=_("Free fields: names and values."), validators=[validate_custom_fields]
    )

    class Meta:
        model = Lead
        fields = [
            "id",
            "phone",
            "name",
            "email",
            "custom_fields",
            "status",
            "do_not_call",
            "time_zone",
            "last_outcome",
            "last_called_at",
            "call_attempts",
            "lead_import",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "time_zone",
            "last_outcome",
            "last_called_at",
            "call_attempts",
            "lead_import",
            "created_at",
            "updated_at",
        ]
        # The unique (business, phone) check is the service's (the business is not a field here).
        validators = []

    def validate_phone(self, value: str) -> str:
        return phone_normalize(value)


class LeadSelectionSerializer(serializers.Serializer):
    lead_ids = lead_ids_field()
    filter = serializers.DictField(
        required=False,
        help_text=_(
            "The list filters: status, do_not_call, lead_import, no_import, created_after, created_before, "
            "last_outcome, last_called_after, last_called_before, last_called_within_days, never_called, q."
        ),
    )

    def validate(self, attrs):
        if ("lead_ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError(_("Give exactly one of lead_ids or filter."))
        return attrs

    def selection(self) -> dict:
        data = self.validated_data
        return {"lead_ids": data["lead_ids"]} if "lead_ids" in data else {"filter": data["filter"]}


class LeadBulkUpdateSerializer(LeadSelectionSerializer):
    status = serializers.ChoiceField(choices=Lead.Status.choices, required=False)
    do_not_call = StrictBooleanField(required=False)
    custom_fields = serializers.DictField(
        required=False, help_text=_("Merged into each lead's custom fields."), validators=[validate_custom_fields]
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not {"status", "do_not_call", "custom_fields"} & set(attrs):
            raise serializers.ValidationError(_("Choose at least one change: status, do not call or custom fields."))
        return attrs

    def changes(self) -> dict:
        fields = ("status", "do_not_call", "custom_fields")
        return {key: self.validated_data[key] for key in fields if key in self.validated_data}


class LeadImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("CSV, UTF-8 or Windows-1255, with a phone column."))


class LeadImportAcceptedSerializer(JobAcceptedSerializer):
    import_id = serializers.IntegerField()


class LeadImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    reason = serializers.ChoiceField(
        choices=["missing_phone", "invalid_phone", "duplicate_in_file", "invalid_email", "name_too_long"]
    )
    message = serializers.CharField()
    value = serializers.CharField(required=False)


class LeadImportSerializer(serializers.ModelSerializer):
    import_id = serializers.IntegerField(source="pk", read_only=True)
    errors = LeadImportRowErrorSerializer(many=True, read_only=True)
    job = BackgroundJobSerializer(read_only=True, allow_null=True)

    class Meta:
        model = LeadImport
        fields = [
            "import_id",
            "file_name",
            "created_by",
            "created_at",
            "rows_total",
            "rows_created",
            "rows_updated",
            "rows_rejected",
            "errors",
            "job",
        ]
        read_only_fields = fields
