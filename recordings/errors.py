from django.utils.translation import gettext_lazy as _

from callcenter.errors import Conflict, Forbidden, NotFound


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


class RecordingUrlInvalid(Forbidden):
    """A signed recording URL whose signature does not match its business, call and expiry."""

    code = "recording_url_invalid"
    default_message = _("This recording link is not valid. Open the recording again from its page.")


class RecordingUrlExpired(Forbidden):
    """A signed recording URL past its expiry: the player asks the prepare endpoint for a new one."""

    code = "recording_url_expired"
    default_message = _("This recording link has expired. Open the recording again from its page.")
