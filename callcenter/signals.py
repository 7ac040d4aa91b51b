from django.dispatch import Signal

# Sent inside the transaction that fails an abandoned (stale) active guarded job, with
# sender=the job's model class (BackgroundJob, RecordingRun) and job=the job, so the app
# that owns that job can undo what the dead worker left half-done before a replacement
# starts. Connect with the sender you own.
job_abandoned = Signal()
