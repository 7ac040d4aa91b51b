"""The player page (server side) and the admin links to it."""

import pytest
from django.test import Client

from recordings.models import RecordingRun
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(type(user).objects.get(pk=user.pk))
    return client


def test_login_is_required(client, recording):
    response = client.get(f"/recordings/player/{recording.call_sid}")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_member_gets_the_player_wired_to_the_endpoints(member, recording, settings):
    settings.RECORDING_PLAYER_MAX_TRIES = 12
    response = logged_in(member).get(f"/recordings/player/{recording.call_sid}", HTTP_ACCEPT_LANGUAGE="he")
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        f'data-prepare-url="/api/recordings/{recording.call_sid}/prepare?business_id={recording.business_id}"' in html
    )
    assert 'data-max-tries="12"' in html
    assert 'dir="rtl"' in html and "ההקלטה בהכנה" in html
    assert "recordings/player.js" in html
    assert not RecordingRun.objects.exists()  # the page itself starts nothing


def test_another_business_or_unknown_call_is_404(other_business, recording):
    stranger = MembershipFactory(business=other_business).user
    assert logged_in(stranger).get(f"/recordings/player/{recording.call_sid}").status_code == 404
    assert logged_in(stranger).get("/recordings/player/CAnothing").status_code == 404
    member_elsewhere = MembershipFactory(business=other_business).user
    MembershipFactory(user=member_elsewhere, business=recording.business)
    page = f"/recordings/player/{recording.call_sid}?business_id={other_business.pk}"
    assert logged_in(member_elsewhere).get(page).status_code == 404


def test_recording_admin_links_to_the_player(admin_client, recording):
    player = f"/recordings/player/{recording.call_sid}?business_id={recording.business_id}"
    assert player in admin_client.get("/admin/recordings/recording/").content.decode()
    assert player in admin_client.get(f"/admin/recordings/recording/{recording.pk}/change/").content.decode()


def test_a_vanished_file_is_downloaded_again_instead_of_failing(api, ready_recording):
    ready_recording.file.storage.delete(ready_recording.file.name)
    response = api.get(f"/api/recordings/file/{ready_recording.call_sid}")
    assert response.status_code == 202
    ready_recording.refresh_from_db()
    assert not ready_recording.is_ready
    assert RecordingRun.objects.filter(recording=ready_recording, status="queued").count() == 1


def test_webhook_answers_only_signed_posts(client):
    assert client.get("/webhooks/twilio/recording-status?business_id=1").status_code == 403
