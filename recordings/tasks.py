"""django-q2 entry points of recordings: thin adapters over services."""

from recordings import downloads, services


def recording_download(run_id: int) -> str | None:
    return downloads.recording_run_execute(run_id=run_id)


def cleanup_stuck_recording_jobs() -> int:
    failed = services.recording_runs_fail_stuck()
    services.recording_partial_files_delete_abandoned()
    return failed
