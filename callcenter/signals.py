from django.dispatch import Signal

# Sent inside the transaction that fails an abandoned (stale) active job, with
# sender=job_type and job=the BackgroundJob, so the app that owns the work can
# undo what the dead worker left half-done before a replacement starts.
background_job_abandoned = Signal()
