import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile

from callcenter.models import BackgroundJob
from leads import tasks

TASKS = {
    BackgroundJob.JobType.DELETE_LEADS: tasks.delete_leads,
    BackgroundJob.JobType.DELETE_IMPORTED_LEADS: tasks.delete_imported_leads,
    BackgroundJob.JobType.UPDATE_LEADS: tasks.update_leads,
    BackgroundJob.JobType.IMPORT_LEADS: tasks.import_leads,
}


def run_job(job_id: int) -> BackgroundJob:
    """Run a queued job's task in this process, as the worker would, and reload it."""
    job = BackgroundJob.objects.get(pk=job_id)
    TASKS[job.job_type](job.pk)
    job.refresh_from_db()
    return job


def csv_bytes(rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def upload(content: bytes, name: str = "leads.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")
