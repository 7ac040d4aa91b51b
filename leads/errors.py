from django.utils.translation import gettext_lazy as _

from callcenter.errors import ApplicationError


class LeadInputInvalid(ApplicationError):
    """Bad input found by a service: answered like a serializer's 400 with field errors."""

    status_code = 400
    code = "invalid"
    default_message = _("Invalid input.")

    def __init__(self, fields: dict[str, list[str]], message=None):
        self.fields = fields
        super().__init__(message, extra={"fields": {key: [str(m) for m in msgs] for key, msgs in fields.items()}})
