from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin

from callcenter.tenancy import BUSINESS_QUERY_PARAMETER, business_url
from recordings import selectors


@xframe_options_sameorigin  # the call's admin page embeds it
@login_required(login_url="admin:login")
def recording_player(request: HttpRequest, call_sid: str) -> HttpResponse:
    """The audio player page. The page itself only finds the recording; the script asks
    the prepare endpoint and plays from the file endpoint."""
    recording = selectors.recording_for_user(
        user=request.user, call_sid=call_sid, business_id=request.GET.get(BUSINESS_QUERY_PARAMETER)
    )
    if recording is None:
        raise Http404(_("No recording was found for this call."))
    return render(
        request,
        "recordings/player.html",
        {
            "recording": recording,
            "call": selectors.recording_call(recording=recording),
            "unavailable": selectors.recording_unavailable_reason(recording=recording),
            "embed": request.GET.get("embed") == "1",
            "prepare_url": business_url(
                "recordings:prepare", business_id=recording.business_id, call_sid=recording.call_sid
            ),
            "max_tries": settings.RECORDING_PLAYER_MAX_TRIES,
            "wait_scale": settings.RECORDING_PLAYER_WAIT_SCALE,
        },
    )
