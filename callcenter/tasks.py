"""django-q2 entry points of the core app: thin adapters over services."""

from callcenter import services


def fail_stale_background_jobs() -> int:
    return services.background_jobs_fail_stale()
