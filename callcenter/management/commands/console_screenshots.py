"""Pictures of the console for the README: the main admin pages, in Hebrew at 1440x900,
against the demo business of callcenter.demo_console, taken by Debian's chromium through
Playwright. Run it through scripts/screenshots, which prepares a throwaway database."""

import threading
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.test import Client

from callcenter.demo_console import console_demo_create
from callcenter.models import Membership

CHROMIUM = "/usr/bin/chromium"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def _pages(demo) -> list[tuple[str, str, str | None]]:
    """(file name, path, what to do on the page first) of every picture."""
    # A lead called twice (busy, then again) in the finished run.
    retried = demo.finished_run.calls.filter(attempts=2).order_by("id").first()
    call = demo.finished_run.calls.exclude(call_sid=None).order_by("id").first()
    failed_job = demo.business.background_jobs.filter(status="failed").first()
    lost_recording = demo.business.recordings.order_by("id").last()
    return [
        ("01-home.png", "/admin/", None),
        ("02-leads.png", "/admin/leads/lead/", None),
        ("03-start-calls-confirm.png", "/admin/leads/lead/?status=new", "start_calls"),
        ("04-run-dashboard.png", f"/admin/outbound/outboundcallrun/{demo.active_run.pk}/change/", None),
        ("05-run-finished.png", f"/admin/outbound/outboundcallrun/{demo.finished_run.pk}/change/", None),
        ("06-runs.png", "/admin/outbound/outboundcallrun/", None),
        ("07-import-report.png", f"/admin/leads/leadimport/{demo.lead_import.pk}/change/", None),
        ("08-job-failed.png", f"/admin/callcenter/backgroundjob/{failed_job.pk}/change/", "details"),
        ("09-call.png", f"/admin/outbound/outboundcalljob/{call.pk}/change/", None),
        ("10-lead.png", f"/admin/leads/lead/{retried.lead_id}/change/", "full_page"),
        ("11-recordings.png", "/admin/recordings/recording/", None),
        ("12-player-unavailable.png", f"/recordings/player/{lost_recording.call_sid}", None),
        ("13-bulk-delete-confirm.png", "/admin/leads/lead/?do_not_call=false", "delete_in_background"),
        ("14-import.png", "/admin/leads/lead/import/", None),
    ]


class Command(BaseCommand):
    help = "Take the README's screenshots of the console against demo data (scripts/screenshots)."

    def add_arguments(self, parser):
        parser.add_argument("--out", default="docs/screenshots", help="Where the PNG files go.")
        parser.add_argument("--leads", type=int, default=240, help="Demo leads to create.")

    def handle(self, *args, out: str, leads: int, **options):
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise CommandError("Playwright is missing: run scripts/bootstrap --dev first.") from None
        if not Path(CHROMIUM).exists():
            raise CommandError("Debian's chromium is missing: run scripts/ensure-browser first.")
        if get_user_model().objects.exists():
            raise CommandError("The database already has users: give the command an empty, migrated database.")
        demo = console_demo_create(leads=leads)
        second = type(demo.business).objects.create(name="סניף צפון")
        Membership.objects.create(user=demo.staff, business=second)
        # Read before Playwright starts: its event loop makes this thread's ORM calls refused.
        pages = _pages(demo)
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)

        server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=True)
        server.set_app(StaticFilesHandler(WSGIHandler()))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        client = Client()
        client.force_login(demo.staff)
        session_id = client.cookies["sessionid"].value
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                context = browser.new_context(
                    locale="he-IL",
                    viewport={"width": 1440, "height": 900},
                    extra_http_headers={"Accept-Language": "he"},
                )
                context.add_cookies([{"name": "sessionid", "value": session_id, "url": base}])
                # The navigation sidebar folded, as staff fold it on a laptop: lists get the width.
                context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
                page = context.new_page()
                for name, path, step in pages:
                    page.goto(base + path)
                    if step in ("start_calls", "delete_in_background"):
                        page.check("#action-toggle")
                        page.click(".actions .question a")
                        page.select_option('select[name="action"]', step)
                        page.click('.actions button[name="index"]')
                        page.wait_for_selector("#confirm-action")
                    elif step == "details":
                        page.click("details.technical summary")
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(out_dir / name), full_page=step == "full_page")
                    self.stdout.write(f"  {out_dir / name}")
                browser.close()
        finally:
            server.shutdown()
        self.stdout.write(self.style.SUCCESS(f"{len(pages)} screenshots in {out_dir}"))
