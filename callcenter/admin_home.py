"""The staff home page's reads: what is happening today in the user's businesses."""

from datetime import datetime, time

from django.utils import timezone

from callcenter.models import BackgroundJob
from callcenter.tenancy import user_business_ids

_ROWS = 10


def _scope(queryset, user):
    return queryset if user.is_superuser else queryset.filter(business_id__in=list(user_business_ids(user)))


def staff_home(*, user) -> dict:
    from leads.models import LeadImport
    from outbound.models import OutboundCallRun
    from outbound.selectors import outcome_counts_of_runs
    from recordings.models import RecordingRun

    start_of_day = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    runs = list(
        _scope(OutboundCallRun.objects.select_related("business"), user)
        .filter(created_at__gte=start_of_day)
        .order_by("-id")[:_ROWS]
    )
    counts = outcome_counts_of_runs(run_ids=[run.pk for run in runs])
    today_runs = []
    for run in runs:
        outcomes = counts[run.pk]
        done = sum(outcomes.values()) - outcomes["canceled"]
        today_runs.append({"run": run, "done": done, "canceled": outcomes["canceled"], "outcomes": outcomes})
    return {
        "today_runs": today_runs,
        "active_jobs": list(
            _scope(BackgroundJob.objects.select_related("business"), user)
            .filter(status__in=BackgroundJob.ACTIVE_STATUSES)
            .order_by("-id")[:_ROWS]
        ),
        "recent_imports": list(_scope(LeadImport.objects.select_related("business", "job"), user).order_by("-id")[:5]),
        "failed_downloads": list(
            _scope(RecordingRun.objects.select_related("business"), user)
            .filter(status=RecordingRun.Status.FAILED)
            .order_by("-id")[:5]
        ),
    }
