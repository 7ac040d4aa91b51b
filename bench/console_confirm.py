"""The console's confirmation pages on 100,000 leads, against the lead list page itself.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_console .venv/bin/python bench/console_confirm.py

In a scratch database: one business with --leads leads (every 25th on the do-not-call list)
and another business's 50,000, a staff user. Each page is requested through Django's test
client in this process (no web server, no network), --repeat times, interleaved:
  - baseline: the lead list filtered by status (GET /admin/leads/lead/?status=new, a page of 100);
  - "select all N" + "delete in background": the confirmation page (the exact count);
  - "select all N" + "start calls": the confirmation page (count, skips by reason, hours);
  - the runs list with one run of N calls (outcomes in brief for the page in one query).
Prints each page's median and range in ms and its ratio to the baseline's median.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from leads_common import insert_leads, scratch_database, sql, vacuum


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with scratch_database("_console_bench"):
        run(args)


def run(args) -> None:
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client
    from django.utils import timezone

    from callcenter.models import BackgroundJob, Business, Membership
    from outbound.models import OutboundCallRun

    business = Business.objects.create(name="bench")
    other = Business.objects.create(name="other")
    insert_leads(business.pk, args.leads)
    insert_leads(other.pk, 50_000, first=args.leads)
    sql("UPDATE leads SET do_not_call = true WHERE business_id = %s AND id %% 25 = 0", [business.pk])
    staff = get_user_model().objects.create_user("staff", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["leads", "outbound"]))
    Membership.objects.create(user=staff, business=business)
    job = BackgroundJob.objects.create(
        business=business,
        job_type="enqueue_outbound_calls",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    run_row = OutboundCallRun.objects.create(
        business=business, background_job=job, status="succeeded", total_leads=args.leads, finished_at=timezone.now()
    )
    sql(
        """
        INSERT INTO outbound_call_jobs (business_id, run_id, lead_id, phone, lead_name, time_zone, status, outcome,
            attempts, claim_number, dial_errors, next_attempt_at, last_sequence_number, twilio_status, answered_by,
            error_code, error_message, created_at, updated_at, ended_at)
        SELECT business_id, %s, id, phone, name, '', 'completed',
               (ARRAY['answered', 'busy', 'no_answer', 'machine'])[1 + id %% 4], 1, 1, 0, now(), -1, 'completed', '',
               '', '', now(), now(), now()
        FROM leads WHERE business_id = %s
        """,
        [run_row.pk, business.pk],
    )
    vacuum()
    sql("VACUUM ANALYZE outbound_call_jobs")
    client = Client()
    client.force_login(staff)
    page_ids = [str(pk) for pk in business.leads.order_by("-pk").values_list("pk", flat=True)[:100]]

    def action(name):
        data = {"action": name, ACTION_CHECKBOX_NAME: page_ids, "select_across": "1"}
        return lambda: client.post("/admin/leads/lead/?status=new", data)

    pages = {
        "lead list (baseline)": lambda: client.get("/admin/leads/lead/?status=new"),
        "bulk delete confirmation": action("delete_in_background"),
        "start calls confirmation": action("start_calls"),
        "runs list, one run of N calls": lambda: client.get("/admin/outbound/outboundcallrun/"),
    }
    timings = {name: [] for name in pages}
    for name, request in pages.items():  # warm-up, and each page checked once
        response = request()
        assert response.status_code == 200, (name, response.status_code)
    assert f'data-count="{args.leads}"' in pages["bulk delete confirmation"]().content.decode()
    for _round in range(args.repeat):
        for name, request in pages.items():
            started = time.perf_counter()
            request()
            timings[name].append((time.perf_counter() - started) * 1000)
    baseline = statistics.median(timings["lead list (baseline)"])
    print(f"{args.leads:,} leads of one business (+50,000 of another), median of {args.repeat}, in-process client")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:32} {median:8.1f} ms  (range {min(values):.1f}-{max(values):.1f})  {median / baseline:5.2f}x")


if __name__ == "__main__":
    main()
