from django.dispatch import Signal

# Sent inside the transaction that fails an abandoned (stale) active job, with
# sender=BackgroundJob and job=the job, so the app that owns that job type (see
# job.job_type) can undo what the dead worker left half-done before a replacement starts.
background_job_abandoned = Signal()
