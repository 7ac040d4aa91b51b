"""Importing a lead CSV: validated in the request, run as the guarded import_leads job.

Rows are upserted on (business, phone) in batches, so importing the same file again
updates the leads it created instead of duplicating them. A lead keeps the import that
created it (delete_imported_leads removes exactly those).
"""

import json
import os
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from callcenter.errors import PayloadTooLarge
from callcenter.models import BackgroundJob, Business
from callcenter.services import JobContext, JobInterrupted, background_job_start
from leads import csv_files
from leads.models import Lead, LeadImport
from leads.phones import InvalidPhone, phone_normalize, phone_time_zone
from leads.services import skip_commit_flush_wait

NAME_MAX_LENGTH = Lead._meta.get_field("name").max_length
EMAIL_MAX_LENGTH = Lead._meta.get_field("email").max_length


class RejectReason:
    MISSING_PHONE = "missing_phone"
    INVALID_PHONE = "invalid_phone"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    INVALID_EMAIL = "invalid_email"
    NAME_TOO_LONG = "name_too_long"


def import_file_size_limit_text() -> str:
    return _("At most %(size)s.") % {"size": filesizeformat(settings.LEADS_IMPORT_MAX_FILE_BYTES)}


def import_file_too_large() -> PayloadTooLarge:
    message = _("The file is too large. %(limit)s") % {"limit": import_file_size_limit_text()}
    return PayloadTooLarge(message, extra={"fields": {"file": [message]}})


def lead_import_start(*, business: Business, uploaded_file, created_by=None) -> LeadImport:
    """Check the upload is a CSV with a phone column (LeadInputInvalid otherwise, nothing
    stored), store it and start the import job. ActiveJobExists if an import is running;
    PayloadTooLarge past LEADS_IMPORT_MAX_FILE_BYTES."""
    size = getattr(uploaded_file, "size", None)
    if size is not None and size > settings.LEADS_IMPORT_MAX_FILE_BYTES:
        raise import_file_too_large()
    layout = csv_files.inspect_csv(uploaded_file)
    file_name = os.path.basename(getattr(uploaded_file, "name", "") or "leads.csv")[:255]
    path = default_storage.save(f"lead_imports/{business.pk}/{uuid.uuid4().hex}.csv", uploaded_file)
    try:
        with transaction.atomic():
            lead_import = LeadImport.objects.create(
                business=business,
                file_name=file_name,
                created_by=created_by if getattr(created_by, "pk", None) else None,
            )
            job = background_job_start(
                business=business,
                job_type=BackgroundJob.JobType.IMPORT_LEADS,
                payload={"import_id": lead_import.pk, "path": path, **layout.as_payload()},
                created_by=created_by,
                task="leads.tasks.import_leads",
            )
            lead_import.job = job
            lead_import.save(update_fields=["job"])
    except Exception:
        default_storage.delete(path)
        raise
    return lead_import


@dataclass
class _ImportTally:
    rows: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list = field(default_factory=list)

    def reject(self, row: int, reason: str, message: str, value: str = "") -> None:
        self.rejected += 1
        if len(self.errors) < settings.LEADS_IMPORT_MAX_REPORTED_ERRORS:
            self.errors.append({"row": row, "reason": reason, "message": message, "value": value[:100]})


def lead_import_job_work(ctx: JobContext) -> dict:
    payload = ctx.payload
    lead_import = LeadImport.objects.get(pk=payload["import_id"], business=ctx.business)
    path = payload["path"]
    try:
        with default_storage.open(path, "rb") as binary:
            return _import_file(ctx, lead_import, binary, encoding=payload["encoding"], delimiter=payload["delimiter"])
    finally:
        default_storage.delete(path)


def _import_file(ctx: JobContext, lead_import: LeadImport, binary, *, encoding: str, delimiter: str) -> dict:
    text = csv_files.open_text(binary, encoding=encoding)
    header = csv_files.read_header(text, delimiter=delimiter)
    text.detach()
    binary.seek(0)
    layout = csv_files.layout_from_header(header, encoding=encoding, delimiter=delimiter)
    total = csv_files.count_data_rows(binary, layout=layout)
    ctx.progress(done=0, total=total)

    tally = _ImportTally()
    seen_rows: dict[str, int] = {}  # phone -> first row: duplicates within the file
    batch: list[tuple[str, str, str, dict]] = []
    update_fields = _update_fields(layout)
    batch_size = settings.LEADS_IMPORT_BATCH_SIZE
    region = settings.LEADS_DEFAULT_REGION
    text = csv_files.open_text(binary, encoding=encoding)
    for row_number, cells in csv_files.data_rows(text, delimiter=delimiter):
        if not any(cell.strip() for cell in cells):
            continue  # blank line (spreadsheets often end with a few)
        tally.rows += 1
        lead = _lead_from_row(row_number, cells, layout, tally, seen_rows, region)
        if lead is not None:
            batch.append(lead)
        if len(batch) >= batch_size:
            _flush(ctx, lead_import, batch, update_fields, tally, done=row_number - 1, total=total)
            batch = []
    _flush(ctx, lead_import, batch, update_fields, tally, done=total, total=total)
    return {
        "import_id": lead_import.pk,
        "rows": tally.rows,
        "created": tally.created,
        "updated": tally.updated,
        "rejected": tally.rejected,
    }


def _update_fields(layout: csv_files.CsvLayout) -> list[str]:
    """What a re-import overwrites: only the columns the file has, so a file without
    names does not blank the names already stored."""
    fields = ["updated_at"]
    if {"name", "first_name", "last_name"} & set(layout.columns):
        fields.append("name")
    if "email" in layout.columns:
        fields.append("email")
    if layout.extra_columns:
        fields.append("custom_fields")
    return fields


def _lead_from_row(row_number, cells, layout, tally, seen_rows, region) -> tuple[str, str, str, dict] | None:
    """(phone E.164, name, email, custom fields) of a good row; a bad row is tallied, None."""
    raw_phone, name, email, custom = csv_files.row_values(cells, layout)
    if not raw_phone:
        tally.reject(row_number, RejectReason.MISSING_PHONE, _("The phone is missing."))
        return None
    try:
        phone = phone_normalize(raw_phone, region=region)
    except InvalidPhone:
        tally.reject(row_number, RejectReason.INVALID_PHONE, _("Not a valid phone number."), raw_phone)
        return None
    first_row = seen_rows.get(phone)
    if first_row is not None:
        tally.reject(
            row_number,
            RejectReason.DUPLICATE_IN_FILE,
            _("The same phone as row %(row)d.") % {"row": first_row},
            raw_phone,
        )
        return None
    seen_rows[phone] = row_number
    if email:
        try:
            if len(email) > EMAIL_MAX_LENGTH:
                raise ValidationError("too long")
            validate_email(email)
        except ValidationError:
            tally.reject(row_number, RejectReason.INVALID_EMAIL, _("Not a valid email address."), email)
            return None
    if len(name) > NAME_MAX_LENGTH:
        tally.reject(
            row_number, RejectReason.NAME_TOO_LONG, _("The name is longer than %(max)d.") % {"max": NAME_MAX_LENGTH}
        )
        return None
    return (phone, name, email, custom)


def _flush(ctx, lead_import, batch, update_fields, tally, *, done: int, total: int) -> None:
    """Upsert a batch; its counts, the import's report and the heartbeat commit with it."""
    stop: JobInterrupted | None = None
    with transaction.atomic():
        skip_commit_flush_wait()
        if batch:
            if connection.vendor == "postgresql":
                created, updated = _upsert_postgresql(lead_import, batch, update_fields)
            else:
                created, updated = _upsert_portable(lead_import, batch, update_fields)
            tally.created += created
            tally.updated += updated
        LeadImport.objects.filter(pk=lead_import.pk).update(
            rows_total=tally.rows,
            rows_created=tally.created,
            rows_updated=tally.updated,
            rows_rejected=tally.rejected,
            errors=tally.errors,
        )
        counts = {"created": tally.created, "updated": tally.updated, "rejected": tally.rejected}
        ctx.result.update({"import_id": lead_import.pk, **counts})
        try:
            ctx.progress(done=min(done, total), total=total)
        except JobInterrupted as interrupted:
            stop = interrupted
    if stop is not None:
        raise stop


def _upsert_postgresql(lead_import: LeadImport, batch, update_fields: list[str]) -> tuple[int, int]:
    """COPY the batch into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE.

    COPY skips building and quoting a 5,000-row INSERT statement in Python, which is most
    of what bulk_create costs; `xmax = 0` in RETURNING is true exactly for inserted rows,
    so created and updated are counted by the database itself.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS lead_import_rows "
            "(phone text, name text, email text, custom_fields jsonb, time_zone text)"
        )
        # Emptied per batch, not ON COMMIT: inside an outer transaction a batch ends at a
        # savepoint, which would leave the previous batch's rows in the table.
        cursor.execute("TRUNCATE lead_import_rows")
        business_zone = lead_import.business.time_zone
        with cursor.cursor.copy(
            "COPY lead_import_rows (phone, name, email, custom_fields, time_zone) FROM STDIN"
        ) as copy:
            for phone, name, email, custom in batch:
                copy.write_row(
                    (
                        phone,
                        name,
                        email,
                        json.dumps(custom, ensure_ascii=False),
                        phone_time_zone(phone, default=business_zone),
                    )
                )
        # Column names from _update_fields' fixed list, never from the file.
        assignments = ", ".join(f"{column} = EXCLUDED.{column}" for column in update_fields)
        cursor.execute(
            f"""
            WITH upserted AS (
                INSERT INTO leads (business_id, phone, name, email, custom_fields, status, do_not_call,
                                   time_zone, last_outcome, call_attempts, lead_import_id, created_at, updated_at)
                SELECT %s, phone, name, email, custom_fields, %s, false, time_zone, '', 0, %s, now(), now()
                FROM lead_import_rows
                ON CONFLICT (business_id, phone) DO UPDATE SET {assignments}
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
            """,  # noqa: S608
            [lead_import.business_id, Lead.Status.NEW, lead_import.pk],
        )
        created, updated = cursor.fetchone()
    return created, updated


def _upsert_portable(lead_import: LeadImport, batch, update_fields: list[str]) -> tuple[int, int]:
    # Which phones exist already tells created from updated; imports of one business are
    # serialised by the job guard.
    existing = Lead.objects.filter(business=lead_import.business_id, phone__in=[row[0] for row in batch]).count()
    business_zone = lead_import.business.time_zone
    Lead.objects.bulk_create(
        [
            Lead(
                business_id=lead_import.business_id,
                phone=phone,
                name=name,
                email=email,
                custom_fields=custom,
                time_zone=phone_time_zone(phone, default=business_zone),
                lead_import=lead_import,
            )
            for phone, name, email, custom in batch
        ],
        update_conflicts=True,
        unique_fields=["business", "phone"],
        update_fields=update_fields,
    )
    return len(batch) - existing, existing
