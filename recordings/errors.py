from django.utils.translation import gettext_lazy as _

from callcenter.errors import Conflict, NotFound


class RecordingUnavailable(Conflict):
    """Every allowed download attempt for this call failed: answer finally, start no new job."""

    code = "recording_unavailable"
    default_message = _(
        "The recording could not be downloaded after %(attempts)s attempts. "
        "Ask an administrator to try again from the admin."
    )


class RecordingAbsent(NotFound):
    """Twilio reported that the call's recording does not exist: nothing to download or retry."""

    code = "recording_absent"
    default_message = _(
        "This call's recording does not exist: Twilio kept no audio of it (the call was too short or silent)."
    )
