from django_q.models import Schedule

SCHEDULES: list[dict] = [
    {
        "name": "cleanup_stuck_recording_jobs",
        "func": "recordings.tasks.cleanup_stuck_recording_jobs",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
]
