"""Leads' answers to other apps' signals (connected in LeadsConfig.ready)."""

from functools import partial

from django.core.files.storage import default_storage
from django.db import transaction
from django.dispatch import receiver

from callcenter.models import BackgroundJob
from callcenter.signals import job_abandoned


@receiver(job_abandoned, sender=BackgroundJob, dispatch_uid="leads.remove_upload_of_abandoned_import")
def remove_upload_of_abandoned_import(sender, job: BackgroundJob, **kwargs) -> None:
    """A dead worker's import will not be resumed (re-importing the file is safe): drop its
    stored upload once the job is recorded as failed."""
    if job.job_type != BackgroundJob.JobType.IMPORT_LEADS:
        return
    path = (job.payload or {}).get("path")
    if path:
        transaction.on_commit(partial(default_storage.delete, path))
