"""django-q2 entry points: each runs one job's work under background_job_execute."""

from callcenter.services import background_job_execute
from leads import imports, services


def delete_leads(job_id: int):
    return background_job_execute(job_id=job_id, work=services.leads_delete_job_work)


def delete_imported_leads(job_id: int):
    return background_job_execute(job_id=job_id, work=services.lead_import_delete_job_work)


def update_leads(job_id: int):
    return background_job_execute(job_id=job_id, work=services.leads_update_job_work)


def import_leads(job_id: int):
    return background_job_execute(job_id=job_id, work=imports.lead_import_job_work)
