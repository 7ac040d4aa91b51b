from django.utils.translation import gettext_lazy as _

from callcenter.errors import Conflict


class RecordingUnavailable(Conflict):
    """Every allowed download attempt for this call failed: answer finally, start no new job."""

    code = "recording_unavailable"
    default_message = _(
        "The recording could not be downloaded after %(attempts)s attempts. "
        "Ask an administrator to try again from the admin."
    )
