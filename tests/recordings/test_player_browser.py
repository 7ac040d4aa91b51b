"""The player page in a real headless browser (Playwright driving Debian's chromium)."""

import io
import time
import wave

import pytest
import time_machine
from django.test import Client

from callcenter import twilio_gateway
from recordings import downloads
from recordings.models import Recording, RecordingRun
from tests.factories import BusinessFactory, MembershipFactory
from tests.plugins.browser import chromium_browser
from tests.plugins.recordings import recording_create, recording_store, run_create, sim_recording

MAX_TRIES = 12


@pytest.fixture
def chromium(monkeypatch):
    with chromium_browser(monkeypatch, "--autoplay-policy=no-user-gesture-required") as browser:
        yield browser


@pytest.fixture
def fast_player(settings):
    # The server still answers Retry-After: 3; the page waits 5% of it, so 12 tries take seconds.
    settings.RECORDING_PLAYER_WAIT_SCALE = 0.05
    settings.RECORDING_PLAYER_MAX_TRIES = MAX_TRIES


class PlayerSession:
    """A logged-in browser page on the player, recording what it asked the server."""

    def __init__(self, browser, live_server, user, *, locale: str):
        client = Client()
        # As stored: the session's auth hash must match the password hash in the database.
        client.force_login(type(user).objects.get(pk=user.pk))
        self.context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
        self.context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
        )
        self.page = self.context.new_page()
        self.live_server = live_server
        self.prepare_answers: list[tuple[int, str | None]] = []
        self.file_answers: list[tuple[int, str | None, str | None]] = []
        self.page.on("response", self._seen)

    def _seen(self, response):
        if "/prepare" in response.url:
            self.prepare_answers.append((response.status, response.headers.get("retry-after")))
        elif "/api/recordings/file/" in response.url:
            self.file_answers.append(
                (response.status, response.request.headers.get("range"), response.headers.get("content-range"))
            )

    def open(self, call_sid: str):
        self.page.goto(f"{self.live_server.url}/recordings/player/{call_sid}")

    def wait_until(self, predicate, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting in the browser"
            self.page.wait_for_timeout(50)

    def state(self) -> str:
        return self.page.get_attribute("#recording-player", "data-state")

    def status_text(self) -> str:
        return self.page.inner_text('#recording-player [data-role="status"]')


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(recording_size_bytes=8_000_000)  # ~8 minutes of audio: seeking needs new ranges
def test_stuck_job_is_recovered_and_the_recording_plays(
    chromium, live_server, twilio_sim, settings, media_root, fast_player
):
    settings.RECORDING_FORMAT = "wav"
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    call_sid, recording_sid = sim_recording(twilio_sim)
    recording = recording_create(business=business, call_sid=call_sid, recording_sid=recording_sid)
    stuck = run_create(recording=recording, status="queued", minutes_old=6)
    session = PlayerSession(chromium, live_server, user, locale="he-IL")

    session.open(call_sid)
    # The stuck job is failed and replaced; the page keeps asking and says it is preparing.
    session.wait_until(lambda: len(session.prepare_answers) >= 3)
    assert session.state() == "preparing"
    assert "ההקלטה בהכנה" in session.status_text()
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "queued" in stuck.error_message
    new = RecordingRun.objects.get(recording=recording, status="queued")

    # A worker now downloads the recording from the simulator.
    assert downloads.recording_run_execute(run_id=new.pk) == "succeeded"

    session.wait_until(lambda: session.state() == "ready")
    assert session.prepare_answers[:3] == [(202, "3")] * 3
    assert session.prepare_answers[-1] == (200, None)
    assert len(session.prepare_answers) <= MAX_TRIES

    audio = session.page.locator("#recording-player audio")
    session.wait_until(lambda: audio.evaluate("a => a.readyState >= 1 && a.duration > 1"))
    audio.evaluate("a => a.play()")
    session.wait_until(lambda: audio.evaluate("a => a.currentTime > 0.1"))
    # Seeking: the browser fetches by Range and the server answers 206 with Content-Range.
    duration = audio.evaluate("a => a.duration")
    audio.evaluate(
        "a => new Promise(done => { a.addEventListener('seeked', done, {once: true}); "
        f"a.currentTime = {duration - 1.0}; }})"
    )
    assert audio.evaluate("a => a.currentTime") >= duration - 1.5
    ranges = [(asked, answered) for status, asked, answered in session.file_answers if status == 206]
    assert ranges and all(asked.startswith("bytes=") and answered.startswith("bytes ") for asked, answered in ranges)
    assert any(not asked.startswith("bytes=0-") for asked, _answered in ranges), ranges  # fetched from the middle
    assert Recording.objects.get(pk=recording.pk).is_ready
    session.context.close()


@pytest.mark.django_db(transaction=True)
def test_a_recording_that_never_comes_stops_after_twelve_tries_with_a_visible_error(chromium, live_server, fast_player):
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    recording = recording_create(business=business)
    run_create(recording=recording, status="running", minutes_old=0)  # a worker that never finishes
    session = PlayerSession(chromium, live_server, user, locale="en-US")

    session.open(recording.call_sid)
    session.wait_until(lambda: session.state() == "error", timeout=30)

    assert session.status_text() == "The recording is still not ready. Please try again in a few minutes."
    assert session.page.is_visible('#recording-player [data-role="status"]')
    assert session.prepare_answers == [(202, "3")] * MAX_TRIES
    session.page.wait_for_timeout(1500)
    assert len(session.prepare_answers) == MAX_TRIES  # it really stopped
    assert session.file_answers == []
    session.context.close()


@pytest.mark.django_db(transaction=True)
def test_the_final_error_is_shown_at_once(chromium, live_server, settings, fast_player):
    settings.RECORDING_MAX_FAILED_RUNS = 2
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    recording = recording_create(business=business)
    for _ in range(2):
        run_create(recording=recording, status="failed", minutes_old=1, error_message="HTTP 404")
    session = PlayerSession(chromium, live_server, user, locale="en-US")

    session.open(recording.call_sid)
    session.wait_until(lambda: session.state() == "error")

    assert "could not be downloaded after 2 attempts" in session.status_text()
    # The page itself already knows the recording cannot be had: it asks nothing and stops.
    assert session.prepare_answers == []
    assert session.page.get_attribute("#recording-player", "data-final") == "1"
    session.context.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.twilio_sim(recording_absent_rate=1.0)
def test_simulated_absent_recording_the_player_says_it_does_not_exist_and_stops(
    chromium, live_server, twilio_sim, settings, fast_player
):
    settings.PUBLIC_BASE_URL = live_server.url
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    nowhere = "http://127.0.0.1:9/ignored"
    call = twilio_gateway.call_create(
        to="+972501234567",
        twiml_url=nowhere,
        status_callback_url=nowhere,
        record=True,
        recording_status_callback_url=twilio_gateway.public_url(
            f"/webhooks/twilio/recording-status?business_id={business.pk}"
        ),
    )
    assert twilio_sim.wait_idle(timeout=20)
    [sim_recording] = [r for r in twilio_sim.recordings() if r["call_sid"] == call.sid]
    assert sim_recording["status"] == "absent"
    assert [c["http_status"] for c in twilio_sim.call(call.sid)["callbacks"] if c["kind"] == "recording"] == [204, 204]
    recording = Recording.objects.get(business=business, call_sid=call.sid)
    assert recording.absent_at is not None

    session = PlayerSession(chromium, live_server, user, locale="he-IL")
    session.open(call.sid)
    session.wait_until(lambda: session.state() == "error")
    time.sleep(0.5)  # several of the player's (scaled) waits: it asks no more

    assert "לא קיימת" in session.status_text()
    # The page already knows from the recording row: it says so at once and asks nothing.
    assert session.prepare_answers == []
    assert not RecordingRun.objects.filter(call_sid=call.sid).exists()  # no download, none retried
    assert sim_recording["fetches"] == 0
    session.context.close()


def silent_wav(*, seconds: int, rate: int = 8000) -> bytes:
    """A long, playable WAV made fast (silence): long enough that seeking needs a new range."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\0\0" * rate * seconds)
    return buffer.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_expired_file_url_is_replaced_and_playback_carries_on(
    chromium, live_server, settings, media_root, fast_player
):
    settings.RECORDING_URL_MAX_AGE_SECONDS = 60
    business = BusinessFactory()
    user = MembershipFactory(business=business).user
    recording = recording_store(recording_create(business=business), silent_wav(seconds=600))
    session = PlayerSession(chromium, live_server, user, locale="en-US")

    session.open(recording.call_sid)
    session.wait_until(lambda: session.state() == "ready")
    audio = session.page.locator("#recording-player audio")
    session.wait_until(lambda: audio.evaluate("a => a.readyState >= 1 && a.duration > 1"))
    first_url = audio.evaluate("a => a.currentSrc")
    assert "signature=" in first_url
    # The server's clock moves past the URL's lifetime (the live server runs in this process).
    # A lifetime of whole seconds as short as the wait would let a slow machine expire the
    # first URL, or its replacement, before the step that needs it.
    with time_machine.travel(time.time() + 120):
        # Seeking near the end needs a new range: refused (403), the player asks for a fresh URL.
        duration = audio.evaluate("a => a.duration")
        audio.evaluate(f"a => {{ a.currentTime = {duration - 5.0}; }}")
        session.wait_until(lambda: len(session.prepare_answers) == 2)
        assert session.prepare_answers == [(200, None), (200, None)]
        assert any(status == 403 for status, _asked, _answered in session.file_answers)
        session.wait_until(lambda: audio.evaluate(f"a => a.currentSrc !== {first_url!r} && a.readyState >= 1"))
        session.wait_until(lambda: audio.evaluate("a => a.currentTime") >= duration - 6.0)
        assert session.state() == "ready"
        assert audio.evaluate("a => a.error") is None
    session.context.close()
