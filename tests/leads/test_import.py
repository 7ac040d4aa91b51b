import pytest
from django.core.files.storage import default_storage
from django.db import connection

from callcenter.errors import ActiveJobExists
from callcenter.models import BackgroundJob
from leads import imports
from leads.errors import LeadInputInvalid
from leads.models import Lead, LeadImport
from tests.leads.helpers import csv_bytes, run_job, upload

pytestmark = pytest.mark.django_db


def phone_written(i: int) -> str:
    """The same kind of number written the ways people write it."""
    forms = (f"052-{i:07d}", f"+972 52 {i:07d}", f"052{i:07d}", f"(052) {i // 10000:03d}-{i % 10000:04d}")
    return forms[i % len(forms)]


def ten_thousand_rows_with_37_bad() -> tuple[list[list[str]], dict[int, str]]:
    rows = [["Phone", "Name", "Email", "City"]]
    expected = {}
    for i in range(10_000):
        row_number = i + 2
        phone = phone_written(i)
        if i % 270 == 5 and len(expected) < 15:
            phone, expected[row_number] = ("12345" if i % 2 else "not a phone"), "invalid_phone"
        elif i % 270 == 100 and len(expected) < 25:
            phone, expected[row_number] = "", "missing_phone"
        elif i % 270 == 200 and len(expected) < 37:
            phone, expected[row_number] = phone_written(i - 1), "duplicate_in_file"
        rows.append([phone, f"Name {i}", f"lead{i}@example.com", "Haifa"])
    assert len(expected) == 37
    return rows, expected


def import_file(business, content: bytes, name="leads.csv", user=None) -> LeadImport:
    lead_import = imports.lead_import_start(business=business, uploaded_file=upload(content, name), created_by=user)
    job = run_job(lead_import.job_id)
    assert job.status == BackgroundJob.Status.SUCCEEDED, job.error_message
    lead_import.refresh_from_db()
    return lead_import


def test_ten_thousand_rows_with_37_bad_rows_reported_and_reimport_creates_nothing(business, media_root):
    rows, expected = ten_thousand_rows_with_37_bad()
    content = csv_bytes(rows)

    first = import_file(business, content)

    assert (first.rows_total, first.rows_created, first.rows_updated, first.rows_rejected) == (10_000, 9_963, 0, 37)
    assert {error["row"]: error["reason"] for error in first.errors} == expected
    assert Lead.objects.filter(business=business).count() == 9_963
    assert Lead.objects.filter(business=business, lead_import=first).count() == 9_963
    lead = Lead.objects.get(business=business, phone="+972520000003")
    assert (lead.name, lead.email, lead.custom_fields) == ("Name 3", "lead3@example.com", {"City": "Haifa"})
    job = first.job
    job.refresh_from_db()
    assert (job.progress_done, job.progress_total) == (10_000, 10_000)
    assert job.result == {"import_id": first.pk, "rows": 10_000, "created": 9_963, "updated": 0, "rejected": 37}
    assert not default_storage.exists(job.payload["path"])

    second = import_file(business, content)

    assert (second.rows_created, second.rows_updated, second.rows_rejected) == (0, 9_963, 37)
    assert Lead.objects.filter(business=business).count() == 9_963
    # The leads still belong to the import that created them.
    assert Lead.objects.filter(business=business, lead_import=first).count() == 9_963


def test_windows_1255_hebrew_file_imports_with_correct_names(business, media_root):
    content = csv_bytes(
        [["טלפון", "שם", "עיר"], ["050-7654321", "ישראל ישראלי", "חיפה"], ["054-7654321", "שרה כהן", "תל אביב"]],
        encoding="cp1255",
    )
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")

    lead_import = import_file(business, content)

    assert lead_import.rows_created == 2
    leads = {lead.phone: lead for lead in Lead.objects.filter(business=business)}
    assert leads["+972507654321"].name == "ישראל ישראלי"
    assert leads["+972507654321"].custom_fields == {"עיר": "חיפה"}
    assert leads["+972547654321"].name == "שרה כהן"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_utf8_with_or_without_bom_and_other_delimiters(business, media_root, encoding):
    content = csv_bytes(
        [["מספר טלפון", "שם פרטי", "שם משפחה", "אימייל"], ["+972-3-1234567", "דנה", "לוי", "dana@example.com"]],
        encoding=encoding,
        delimiter=";",
    )
    lead_import = import_file(business, content)
    lead = Lead.objects.get(business=business)
    assert (lead.phone, lead.name, lead.email) == ("+97231234567", "דנה לוי", "dana@example.com")
    assert lead_import.rows_created == 1 and lead.custom_fields == {}


def test_reimport_without_a_name_column_keeps_the_names(business, media_root):
    import_file(business, csv_bytes([["phone", "name"], ["0507654321", "Dana"]]))
    second = import_file(business, csv_bytes([["phone", "status note"], ["0507654321", "called back"]]))
    lead = Lead.objects.get(business=business)
    assert second.rows_updated == 1
    assert (lead.name, lead.custom_fields) == ("Dana", {"status note": "called back"})


def test_invalid_email_and_blank_lines(business, media_root):
    content = csv_bytes([["phone", "email"], ["0507654321", "nope"], ["", ""], ["0507654322", "ok@example.com"]])
    lead_import = import_file(business, content)
    assert lead_import.rows_created == 1
    assert [(e["row"], e["reason"]) for e in lead_import.errors] == [(2, "invalid_email")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "אינו קובץ טקסט CSV"),
        (b"PK\x03\x04\x14\x00\x06\x00", "אינו קובץ טקסט CSV"),
        (csv_bytes([["name", "email"], ["Dana", "d@example.com"]]), "אין עמודת טלפון"),
        (b"", "אין עמודת טלפון"),
    ],
)
def test_not_csv_or_no_phone_column_is_rejected_and_nothing_is_stored(business, media_root, content, message):
    with pytest.raises(LeadInputInvalid) as raised:
        imports.lead_import_start(business=business, uploaded_file=upload(content))
    assert message in raised.value.fields["file"][0]
    assert not LeadImport.objects.exists() and not BackgroundJob.objects.exists()
    assert not (media_root / "lead_imports").exists() or not any((media_root / "lead_imports").rglob("*.csv"))


def test_second_import_while_one_is_active_is_refused_and_its_file_not_kept(business, media_root):
    content = csv_bytes([["phone"], ["0507654321"]])
    first = imports.lead_import_start(business=business, uploaded_file=upload(content))
    with pytest.raises(ActiveJobExists) as raised:
        imports.lead_import_start(business=business, uploaded_file=upload(content))
    assert raised.value.extra == {"job_id": first.job_id, "status": "queued"}
    assert LeadImport.objects.count() == 1
    assert len(list((media_root / "lead_imports").rglob("*.csv"))) == 1


def test_an_abandoned_import_drops_its_upload_and_a_new_import_can_start(
    business, media_root, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    content = csv_bytes([["phone"], ["0507654321"]])
    stale = imports.lead_import_start(business=business, uploaded_file=upload(content))
    path = stale.job.payload["path"]
    BackgroundJob.objects.filter(pk=stale.job_id).update(
        status="running", heartbeat_at=timezone.now() - timedelta(minutes=11)
    )
    with django_capture_on_commit_callbacks(execute=True):
        fresh = imports.lead_import_start(business=business, uploaded_file=upload(content))
    assert not default_storage.exists(path)
    assert BackgroundJob.objects.get(pk=stale.job_id).status == "failed"
    assert run_job(fresh.job_id).status == "succeeded"


def test_cancel_stops_an_import_between_batches_keeping_what_was_imported(business, media_root, settings, monkeypatch):
    from callcenter import services as job_services

    settings.LEADS_IMPORT_BATCH_SIZE = 10
    rows = [["phone"]] + [[f"052-{i:07d}"] for i in range(3, 33)]
    lead_import = imports.lead_import_start(business=business, uploaded_file=upload(csv_bytes(rows)))
    upsert_name = "_upsert_postgresql" if connection.vendor == "postgresql" else "_upsert_portable"
    real_upsert = getattr(imports, upsert_name)

    def upsert_then_cancel(*args, **kwargs):
        counts = real_upsert(*args, **kwargs)
        job_services.background_job_request_cancel(business=business, job_id=lead_import.job_id)
        return counts

    monkeypatch.setattr(imports, upsert_name, upsert_then_cancel)
    job = run_job(lead_import.job_id)
    lead_import.refresh_from_db()
    assert job.status == BackgroundJob.Status.CANCELLED
    assert (job.progress_done, job.progress_total) == (10, 30)
    assert lead_import.rows_created == 10 == Lead.objects.filter(business=business).count()
