"""The guard under real concurrency: threads with their own PostgreSQL connections."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from callcenter import services
from callcenter.errors import ActiveJobExists
from callcenter.models import BackgroundJob
from tests.factories import BackgroundJobFactory, BusinessFactory

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 8
ROUNDS = 15


def start_all_at_once(businesses, job_type):
    """Each thread starts a job for its business the moment all threads are ready."""
    barrier = threading.Barrier(len(businesses))
    outcomes = [None] * len(businesses)

    def attempt(index, business):
        try:
            barrier.wait()
            outcomes[index] = services.background_job_start(business=business, job_type=job_type)
        except ActiveJobExists as blocked:
            outcomes[index] = blocked
        except Exception as unexpected:  # surfaced by the assertions below
            outcomes[index] = unexpected
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i, b)) for i, b in enumerate(businesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_same_business_same_type_exactly_one_job_is_created():
    for _round in range(ROUNDS):
        business = BusinessFactory()
        outcomes = start_all_at_once([business] * THREADS, BackgroundJob.JobType.DELETE_LEADS)
        created = [o for o in outcomes if isinstance(o, BackgroundJob)]
        blocked = [o for o in outcomes if isinstance(o, ActiveJobExists)]
        assert len(created) == 1, outcomes
        assert len(blocked) == THREADS - 1, outcomes
        assert {b.extra["job_id"] for b in blocked} == {created[0].pk}
        assert BackgroundJob.objects.filter(business=business).count() == 1


def test_different_businesses_all_succeed():
    for _round in range(3):
        businesses = [BusinessFactory() for _ in range(THREADS)]
        outcomes = start_all_at_once(businesses, BackgroundJob.JobType.UPDATE_LEADS)
        assert all(isinstance(o, BackgroundJob) for o in outcomes), outcomes
        assert {o.business_id for o in outcomes} == {b.pk for b in businesses}


def test_concurrent_recovery_of_a_stale_job_replaces_it_once():
    for _round in range(ROUNDS):
        business = BusinessFactory()
        stale = BackgroundJobFactory(business=business, job_type=BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS)
        BackgroundJob.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=30))
        outcomes = start_all_at_once([business] * THREADS, BackgroundJob.JobType.ENQUEUE_OUTBOUND_CALLS)
        created = [o for o in outcomes if isinstance(o, BackgroundJob)]
        assert len(created) == 1, outcomes
        assert all(isinstance(o, ActiveJobExists) for o in outcomes if o is not created[0]), outcomes
        stale.refresh_from_db()
        assert stale.status == BackgroundJob.Status.FAILED
        assert BackgroundJob.objects.filter(business=business, status__in=BackgroundJob.ACTIVE_STATUSES).count() == 1
