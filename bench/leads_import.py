"""Lead CSV import vs PostgreSQL COPY of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cc_leads .venv/bin/python bench/leads_import.py [--rows 100000]

The baseline is COPY of the rows already normalised (E.164 phones, custom fields as JSON),
i.e. the bare cost of getting them into the table. Ours is the whole import: upload
validation (encoding detection, header), the import_leads job parsing, normalising and
validating every row and upserting in batches. Target: <= 3x. A second import of the same
file (every row an update) is timed too.
"""

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from leads_common import scratch_database, sql, vacuum

FIRST_NAMES = ["דנה", "יוסי", "מיכל", "אבי", "נועה", "רון", "שירה", "עומר"]
LAST_NAMES = ["כהן", "לוי", "מזרחי", "פרץ", "ביטון", "אברהם", "פרידמן"]
CITIES = ["חיפה", "תל אביב", "ירושלים", "באר שבע", "נתניה"]


def make_rows(count: int, seed: int = 7) -> list[tuple[str, str, str, str, str]]:
    """(phone as people write it, E.164, name, email, city), phones valid and distinct."""
    import phonenumbers

    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < count:
        prefix = rng.choice(["050", "052", "053", "054", "055", "058"])
        local = f"{prefix}{rng.randrange(2_000_000, 9_999_999)}"
        number = phonenumbers.parse(local, "IL")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 in seen or not phonenumbers.is_valid_number(number):
            continue
        seen.add(e164)
        i = len(rows)
        written = f"{local[:3]}-{local[3:]}" if i % 2 else local
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        rows.append((written, e164, name, f"lead{i}@example.com", rng.choice(CITIES)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N rounds of COPY, import, re-import")
    args = parser.parse_args()
    media = tempfile.mkdtemp(prefix="bench-media-")
    os.environ["MEDIA_ROOT"] = media
    rows = make_rows(args.rows)
    csv_path = Path(media) / "leads.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["טלפון", "שם", "אימייל", "עיר"])
        writer.writerows((written, name, email, city) for written, _e164, name, email, city in rows)

    with scratch_database("_bench_import"):
        from django.core.files import File
        from django.db import connection

        from callcenter.models import BackgroundJob, Business
        from leads import imports, tasks
        from leads.models import Lead

        business = Business.objects.create(name="bench")
        results: dict[str, float] = {}

        def keep_best(key: str, seconds: float) -> None:
            results[key] = min(seconds, results.get(key, seconds))

        def clear() -> None:
            sql("DELETE FROM leads")
            BackgroundJob.objects.all().delete()
            vacuum()

        def copy_rows() -> None:
            """Baseline: COPY of the normalised rows."""
            connection.ensure_connection()
            started = time.perf_counter()
            with (
                connection.connection.cursor() as cursor,
                cursor.copy(
                    "COPY leads (business_id, phone, name, email, custom_fields, status, do_not_call, "
                    "created_at, updated_at) FROM STDIN"
                ) as copy,
            ):
                for _written, e164, name, email, city in rows:
                    row = (business.pk, e164, name, email, json.dumps({"עיר": city}), "new", False, "now", "now")
                    copy.write_row(row)
            keep_best("copy", time.perf_counter() - started)
            assert Lead.objects.filter(business=business).count() == args.rows

        def run_import(key: str) -> dict:
            BackgroundJob.objects.all().delete()
            started = time.perf_counter()
            with csv_path.open("rb") as handle:
                lead_import = imports.lead_import_start(business=business, uploaded_file=File(handle, "leads.csv"))
            tasks.import_leads(lead_import.job_id)
            keep_best(key, time.perf_counter() - started)
            lead_import.refresh_from_db()
            return {"created": lead_import.rows_created, "updated": lead_import.rows_updated}

        for _round in range(args.repeat):
            clear()
            copy_rows()
            clear()
            first = run_import("import")
            assert first == {"created": args.rows, "updated": 0}, first
            second = run_import("reimport")
            assert second == {"created": 0, "updated": args.rows}, second
            assert Lead.objects.filter(business=business).count() == args.rows

    print(f"\nImport benchmark: {args.rows:,} CSV rows (PostgreSQL, best of {args.repeat})\n")
    print("| case | seconds | ratio to COPY |")
    print("| --- | ---: | ---: |")
    print(f"| COPY of the normalised rows | {results['copy']:.2f} | 1.00x |")
    print(f"| import (all new) | {results['import']:.2f} | {results['import'] / results['copy']:.2f}x |")
    print(f"| import again (all updates) | {results['reimport']:.2f} | {results['reimport'] / results['copy']:.2f}x |")
    print(f"\nimport / COPY: {results['import'] / results['copy']:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
