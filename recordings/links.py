from django.urls import reverse


def recording_player_url(*, business_id: int, call_sid: str) -> str:
    """Where other pages (the call's admin page, a run's call list) link a call's recording."""
    path = reverse("recordings:player", kwargs={"call_sid": call_sid})
    return f"{path}?business_id={business_id}"
