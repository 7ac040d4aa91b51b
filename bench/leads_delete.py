"""Bulk lead delete: our delete_leads job vs a raw DELETE and vs Django's ways.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_leads .venv/bin/python bench/leads_delete.py
    (--large 1000000 --small 100000 are the defaults; --skip-admin leaves out the stock admin action)

Prints, for the same data in the same run:
  - our job on --large leads of one business vs `DELETE FROM leads WHERE business_id = ...`
    (target <= 1.5x), and on --small leads;
  - Django's `queryset.delete()` and the stock admin `delete_selected` action on --small leads;
  - the worker's peak RSS while the job deletes --small and --large leads (each in a fresh
    process; target: flat, under 150 MB).
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from leads_common import (
    PeakRss,
    django_setup,
    insert_leads,
    mb,
    run_child,
    scratch_database,
    sql,
    timed,
    vacuum,
)

SCRIPT = Path(__file__).resolve()
NOISE_LEADS = 50_000  # another business's leads, which must survive every delete


def child(args) -> None:
    """In a fresh process: run one delete and report time and peak RSS as JSON."""
    django_setup()
    from django.contrib.admin import actions, site
    from django.contrib.auth import get_user_model
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    from leads import tasks
    from leads.models import Lead

    user = get_user_model().objects.filter(is_superuser=True).first()
    with PeakRss() as rss:
        started = time.perf_counter()
        if args.mode == "job":
            tasks.delete_leads(args.job_id)
        elif args.mode == "queryset":
            Lead.objects.filter(business_id=args.business_id).delete()
        elif args.mode == "admin":
            request = RequestFactory().post("/admin/leads/lead/", {"post": "yes"})
            request.user = user
            request.session = {}
            request._messages = FallbackStorage(request)
            queryset = Lead.objects.filter(business_id=args.business_id)
            actions.delete_selected(site._registry[Lead], request, queryset)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rss_start": rss.start, "rss_peak": rss.peak}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--skip-admin", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="best of N, alternating raw and job")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--mode")
    parser.add_argument("--job-id", type=int)
    parser.add_argument("--business-id", type=int)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    with scratch_database("_bench_delete"):
        from django.contrib.auth import get_user_model

        from callcenter.models import BackgroundJob, Business
        from leads import services
        from leads.models import Lead

        get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-pass-123")
        business = Business.objects.create(name="bench")
        noise = Business.objects.create(name="noise")
        insert_leads(noise.pk, NOISE_LEADS, first=90_000_000)
        results: dict[str, float] = {}
        memory: dict[str, dict] = {}

        def fresh(count: int) -> None:
            sql("DELETE FROM leads WHERE business_id = %s", [business.pk])
            BackgroundJob.objects.all().delete()
            vacuum()
            insert_leads(business.pk, count)
            vacuum()

        def job_delete(count: int, key: str) -> None:
            fresh(count)
            job = services.leads_bulk_delete_start(business=business, selection={"filter": {}})
            report = run_child(SCRIPT, "--mode", "job", "--job-id", str(job.pk))
            job.refresh_from_db()
            assert job.status == "succeeded" and job.result["deleted"] == count, (job.status, job.result)
            keep_best(key, report["seconds"], report)

        def keep_best(key: str, seconds: float, report: dict | None = None) -> None:
            results[key] = min(seconds, results.get(key, seconds))
            if report is not None:
                peak = max(report["rss_peak"], memory.get(key, {}).get("rss_peak", 0))
                memory[key] = {**report, "rss_peak": peak}

        def raw_delete(count: int, key: str) -> None:
            fresh(count)
            took: dict[str, float] = {}
            with timed(took, key):
                sql("DELETE FROM leads WHERE business_id = %s", [business.pk])
            keep_best(key, took[key])

        def django_delete(count: int, key: str, mode: str) -> None:
            fresh(count)
            report = run_child(SCRIPT, "--mode", mode, "--business-id", str(business.pk))
            assert not Lead.objects.filter(business=business).exists()
            results[key] = report["seconds"]
            memory[key] = report

        for size, label in ((args.large, "large"), (args.small, "small")):
            for _round in range(args.repeat):
                raw_delete(size, f"raw_{label}")
                job_delete(size, f"job_{label}")
        django_delete(args.small, "django_queryset_small", "queryset")
        if not args.skip_admin:
            django_delete(args.small, "django_admin_small", "admin")
        assert Lead.objects.filter(business=noise).count() == NOISE_LEADS

    print(
        f"\nDelete benchmark (PostgreSQL; best of {args.repeat} for raw DELETE and job; "
        f"{NOISE_LEADS:,} leads of another business stay)\n"
    )
    print("| case | leads | seconds | ratio to raw DELETE | worker peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [
        ("raw `DELETE ... WHERE business_id`", args.large, "raw_large", "raw_large"),
        ("delete_leads job", args.large, "job_large", "raw_large"),
        ("raw `DELETE ... WHERE business_id`", args.small, "raw_small", "raw_small"),
        ("delete_leads job", args.small, "job_small", "raw_small"),
        ("Django `queryset.delete()`", args.small, "django_queryset_small", "raw_small"),
        ("stock admin `delete_selected`", args.small, "django_admin_small", "raw_small"),
    ]
    for name, count, key, baseline in rows:
        if key not in results:
            continue
        peak = mb(memory[key]["rss_peak"]) if key in memory else "-"
        print(f"| {name} | {count:,} | {results[key]:.2f} | {results[key] / results[baseline]:.2f}x | {peak} |")
    print()
    print(f"job / raw DELETE at {args.large:,}: {results['job_large'] / results['raw_large']:.2f}x (target <= 1.5x)")
    print(
        f"job worker peak RSS: {mb(memory['job_small']['rss_peak'])} at {args.small:,}, "
        f"{mb(memory['job_large']['rss_peak'])} at {args.large:,} (target: flat, < 150 MB)"
    )
    print(
        f"Django queryset.delete() / job at {args.small:,}: "
        f"{results['django_queryset_small'] / results['job_small']:.2f}x"
    )
    if "django_admin_small" in results:
        print(
            f"stock admin delete_selected / job at {args.small:,}: "
            f"{results['django_admin_small'] / results['job_small']:.2f}x"
        )


if __name__ == "__main__":
    main()
