from django.db.models import QuerySet

from callcenter.errors import NotFound
from callcenter.models import BackgroundJob, Business


def background_job_list(*, business: Business) -> QuerySet[BackgroundJob]:
    return BackgroundJob.objects.filter(business=business).select_related("created_by")


def background_job_get(*, business: Business, job_id: int) -> BackgroundJob:
    job = background_job_list(business=business).filter(pk=job_id).first()
    if job is None:
        raise NotFound()
    return job
