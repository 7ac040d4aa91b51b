"""Every admin page, rendered in Hebrew as tenant staff and as a superuser: no 5xx, no
traceback or server path, no msgid of our catalogs left in English, and no Latin-script
word outside left-to-right data isolates but a short list of names."""

import re
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from callcenter.demo_console import console_demo_create
from tests.factories import BusinessFactory

ALLOWED_LATIN = {
    "Twilio", "Django", "CSV", "SID", "E", "JSON", "UTC", "API", "ID", "Q", "HTTP", "UTF", "Windows", "Cron",
    "croniter", "Asia", "Jerusalem", "he", "IL", "Control", "Command", "Single", "Sign", "On", "LDAP",
    "IP", "Accept", "GET", "POST",
}  # fmt: skip
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Data that is Latin by nature wherever it appears: call / recording SIDs, file names.
# django-axes names its rows in English outside any catalog ("Access Log for <user> @ <time>")
# and stores "<unknown>" for missing request data: rows of its superuser-only pages.
THIRD_PARTY_DATA = re.compile(r"Access Log for|Attempted Access:|<unknown>")
LATIN_DATA = re.compile(r"\b(?:CA|RE)[0-9a-f]{32}\b|\S+\.(?:csv|wav|mp3)\b|[\w.]+[._=][\w.=']+")
SERVER_PATH = re.compile(r"(/work/|/home/|/var/|/usr/|site-packages|\.py\b)")
APPS = ("callcenter", "leads", "outbound", "recordings")


class VisibleText(HTMLParser):
    """The text a person sees: no scripts or styles, and without the left-to-right data
    isolates (<bdi dir="ltr">, dir="ltr" elements), which hold phones, ids, SIDs and JSON."""

    SKIP = {"script", "style", "textarea", "title"}
    VOID = {"input", "br", "img", "meta", "link", "hr", "col", "area", "base", "source", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        is_button = tag == "input" and attrs.get("type") in ("submit", "button")
        if is_button and attrs.get("value") and not any(self.stack):
            self.parts.append(attrs["value"])
        for name in ("placeholder", "aria-label", "title"):
            if attrs.get(name) and not any(self.stack) and attrs.get("dir") != "ltr":
                self.parts.append(attrs[name])
        if tag in self.VOID:
            return
        self.stack.append(tag in self.SKIP or attrs.get("dir") == "ltr" or "hidden" in attrs)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not any(self.stack):
            self.parts.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return " ".join(parser.parts)


def catalog_msgids() -> list[str]:
    """Our catalogs' English texts long enough to be recognised on a page."""
    found = []
    for app in APPS:
        po = polib.pofile(str(Path(settings.BASE_DIR) / app / "locale/he/LC_MESSAGES/django.po"))
        for entry in po:
            text = re.sub(r"%\(\w+\)[sd]|\{\w+\}|<[^>]+>", "", entry.msgid).strip()
            if len(text.split()) >= 2 and LATIN_WORD.search(text):
                found.append(text)
    return found


def problems_of(url: str, response) -> list[str]:
    found = []
    if response.status_code >= 500:
        return [f"{url}: {response.status_code}"]
    html = response.content.decode()
    if "Traceback" in html:
        found.append(f"{url}: traceback")
    for match in SERVER_PATH.finditer(VisibleText.of(html)):
        found.append(f"{url}: server path {match.group(0)!r}")
    text = LATIN_DATA.sub(" ", THIRD_PARTY_DATA.sub(" ", VisibleText.of(html)))
    for word in sorted(set(LATIN_WORD.findall(text)) - ALLOWED_LATIN):
        context = text[max(text.find(word) - 40, 0) : text.find(word) + 40].replace("\n", " ")
        found.append(f"{url}: Latin word {word!r} in …{context}…")
    return found


def admin_urls(client, user, demo) -> list[tuple[str, str, dict | None]]:
    """(method, url, data) of every page: each model's list, add and first change page, and
    the console's own views and confirmation pages."""
    urls = [("get", reverse("admin:index"), None)]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        request = type("Request", (), {"user": user})()
        if not model_admin.has_view_or_change_permission(request):
            continue
        urls.append(("get", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), None))
        if model_admin.has_add_permission(request):
            urls.append(("get", reverse(f"admin:{opts.app_label}_{opts.model_name}_add"), None))
        first = model_admin.get_queryset(type("Request", (), {"user": user})()).order_by("pk").first()
        if first is not None:
            urls.append(("get", reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]), None))
    run, active = demo.finished_run, demo.active_run
    lead_ids = list(demo.business.leads.order_by("pk").values_list("pk", flat=True)[:5])
    urls += [
        ("get", reverse("admin:outbound_outboundcallrun_change", args=[active.pk]), None),
        ("get", reverse("admin:outbound_outboundcallrun_dashboard", args=[run.pk]), None),
        ("get", reverse("admin:outbound_outboundcallrun_control", args=[active.pk, "cancel"]), None),
        ("get", reverse("admin:leads_lead_import"), None),
        ("get", reverse("admin:outbound_outboundcalljob_change", args=[run.calls.order_by("id").first().pk]), None),
        ("get", reverse("admin:recordings_recordingrun_changelist") + "?status=failed", None),
        ("get", reverse("recordings:player", args=[demo.business.recordings.order_by("id").last().call_sid]), None),
    ]
    changelist = reverse("admin:leads_lead_changelist")
    for action in ("delete_in_background", "bulk_update", "start_calls"):
        data = {"action": action, ACTION_CHECKBOX_NAME: lead_ids, "select_across": "1"}
        urls.append(("post", changelist + f"?business={demo.business.pk}", data))
    imports = reverse("admin:leads_leadimport_changelist")
    urls.append(("post", imports, {"action": "delete_imported_leads", ACTION_CHECKBOX_NAME: [demo.lead_import.pk]}))
    return urls


@pytest.fixture
def demo(db):
    BusinessFactory(name="עסק אחר")
    return console_demo_create()


@pytest.fixture
def superuser(demo):
    return get_user_model().objects.create_superuser("מנהלת", "", "x")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["staff", "superuser"])
def test_every_admin_page_renders_in_hebrew(demo, superuser, who):
    user = demo.staff if who == "staff" else superuser
    client = Client()
    client.force_login(user)
    problems = []
    visited = 0
    for method, url, data in admin_urls(client, user, demo):
        response = client.get(url) if method == "get" else client.post(url, data)
        if response.status_code in (301, 302):
            response = client.get(response["Location"])
        visited += 1
        problems += problems_of(url, response)
        text = VisibleText.of(response.content.decode())
        problems += [f"{url}: untranslated {msgid!r}" for msgid in catalog_msgids_cached() if msgid in text]
    assert visited > 20
    assert not problems, "\n".join(problems)


_MSGIDS: list[str] = []


def catalog_msgids_cached() -> list[str]:
    if not _MSGIDS:
        _MSGIDS.extend(catalog_msgids())
    return _MSGIDS


def test_catalogs_are_complete_with_four_hebrew_plural_forms():
    for app in APPS:
        po = polib.pofile(str(Path(settings.BASE_DIR) / app / "locale/he/LC_MESSAGES/django.po"))
        assert "nplurals=4" in po.metadata["Plural-Forms"], app
        assert not po.fuzzy_entries(), (app, [entry.msgid for entry in po.fuzzy_entries()])
        assert not po.untranslated_entries(), (app, [entry.msgid for entry in po.untranslated_entries()])
        for entry in po:
            if entry.msgid_plural:
                assert all(entry.msgstr_plural.get(form) for form in range(4)), (app, entry.msgid)
