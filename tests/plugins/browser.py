"""pytest fixtures shared across the suite (browser): Debian's chromium driven by Playwright,
and admin pages opened in it as a logged-in user."""

from contextlib import contextmanager

import pytest
from django.db import connections
from django.test import Client

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_browser(monkeypatch, *extra_args: str):
    """Debian's chromium launched by Playwright, with `extra_args` after the usual ones."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on the test's thread; Django would then
    # refuse the test's own synchronous ORM calls without this.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()
            # With that loop running, Django keeps this thread's connections in storage of
            # the loop's context, apart from the test's own: close what the test opened there,
            # or the test database cannot be dropped at the end of the session.
            connections.close_all()


@pytest.fixture
def console_browser(monkeypatch):
    with chromium_browser(monkeypatch) as browser:
        yield browser


def logged_in_page(browser, live_server, user, *, width: int = 1440, height: int = 900):
    """A Hebrew browser page whose session is `user`'s."""
    client = Client()
    client.force_login(type(user).objects.get(pk=user.pk))
    context = browser.new_context(
        locale="he-IL", viewport={"width": width, "height": height}, extra_http_headers={"Accept-Language": "he"}
    )
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return context.new_page()
