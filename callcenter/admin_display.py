"""Small pieces every admin page uses: left-to-right isolates for data that must not be
reordered by the right-to-left page (phones, ids, SIDs, JSON, signed numbers), and links
to the job, run or import a message or a row names."""

import json

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString


def ltr(value) -> SafeString:
    """`value` in a left-to-right isolate: "+972501234567" stays as written on an RTL page."""
    if value is None or value == "":
        return format_html("{}", "-")
    return format_html('<bdi dir="ltr">{}</bdi>', value)


def ltr_json(value) -> SafeString:
    """JSON shown as written, left to right, keeping non-Latin text readable."""
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    return format_html('<pre dir="ltr" class="ltr-json">{}</pre>', text)


def admin_link(viewname: str, object_id, text) -> SafeString:
    try:
        url = reverse(viewname, args=[object_id])
    except NoReverseMatch:
        return ltr(text)
    return format_html('<a href="{}">{}</a>', url, text)


def job_link(job_id: int | None) -> SafeString:
    if job_id is None:
        return format_html("{}", "-")
    return admin_link("admin:callcenter_backgroundjob_change", job_id, ltr(f"#{job_id}"))


def run_link(run_id: int | None) -> SafeString:
    if run_id is None:
        return format_html("{}", "-")
    return admin_link("admin:outbound_outboundcallrun_change", run_id, ltr(f"#{run_id}"))


def import_link(import_id: int | None) -> SafeString:
    if import_id is None:
        return format_html("{}", "-")
    return admin_link("admin:leads_leadimport_change", import_id, ltr(f"#{import_id}"))
