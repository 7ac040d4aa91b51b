"""Forms of the lead admin's own pages."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from callcenter.models import Business
from leads.admin_selection import business_choices
from leads.imports import import_file_size_limit_text, import_file_too_large
from leads.models import DoNotCallNumber, Lead
from leads.phones import phone_normalize, phone_time_zone


class LeadBulkUpdateForm(forms.Form):
    status = forms.ChoiceField(
        label=_("status"), choices=[("", _("(unchanged)")), *Lead.Status.choices], required=False
    )
    do_not_call = forms.ChoiceField(
        label=_("do not call"),
        choices=[("", _("(unchanged)")), ("true", _("Yes")), ("false", _("No"))],
        required=False,
    )
    custom_fields = forms.JSONField(
        label=_("custom fields"),
        required=False,
        widget=forms.Textarea(attrs={"dir": "ltr", "rows": 3}),
        help_text=_('Merged into each lead\'s custom fields, e.g. {"campaign": "spring"}.'),
    )

    def changes(self) -> dict:
        data = self.cleaned_data
        changes = {}
        if data.get("status"):
            changes["status"] = data["status"]
        if data.get("do_not_call"):
            changes["do_not_call"] = data["do_not_call"] == "true"
        if data.get("custom_fields"):
            changes["custom_fields"] = data["custom_fields"]
        return changes


class LeadImportUploadForm(forms.Form):
    business = forms.ModelChoiceField(label=_("business"), queryset=Business.objects.none())
    file = forms.FileField(label=_("CSV file"), help_text=_("UTF-8 or Windows-1255, with a phone column."))

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _("UTF-8 or Windows-1255, with a phone column. %(limit)s") % {
            "limit": import_file_size_limit_text()
        }
        businesses = business_choices(request)
        self.fields["business"].queryset = businesses
        if len(businesses) == 1:
            self.fields["business"].initial = businesses[0]
            self.fields["business"].widget = forms.HiddenInput()

    def clean_file(self):
        uploaded = self.cleaned_data["file"]
        if uploaded.size > settings.LEADS_IMPORT_MAX_FILE_BYTES:
            raise forms.ValidationError(import_file_too_large().message)
        return uploaded


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = ["business", "phone", "name", "email", "status", "do_not_call", "custom_fields"]
        widgets = {
            "phone": forms.TextInput(attrs={"dir": "ltr"}),
            "email": forms.EmailInput(attrs={"dir": "ltr"}),
            "custom_fields": forms.Textarea(attrs={"dir": "ltr", "rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and not self.initial.get("custom_fields"):
            self.initial["custom_fields"] = {}

    def clean_phone(self):
        phone = phone_normalize(self.cleaned_data["phone"])
        business = self.cleaned_data.get("business") or getattr(self.instance, "business", None)
        # Said here in plain words; the unique constraint behind it would name the fields.
        if business and Lead.objects.filter(business=business, phone=phone).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("A lead with this phone number already exists."))
        return phone

    def save(self, commit=True):
        lead = super().save(commit=False)
        if "phone" in self.changed_data or "business" in self.changed_data or not lead.time_zone:
            lead.time_zone = phone_time_zone(lead.phone, default=lead.business.time_zone)
        if commit:
            lead.save()
            self.save_m2m()
        return lead


class DoNotCallNumberAdminForm(forms.ModelForm):
    class Meta:
        model = DoNotCallNumber
        fields = ["business", "phone"]

    def clean_phone(self):
        return phone_normalize(self.cleaned_data["phone"])
