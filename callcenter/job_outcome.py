"""What a staff member reads about a job: one Hebrew sentence saying what happened and, on
failure, what to do; and the technical detail, cleaned of server paths, SQL and tracebacks,
for the "details" toggle."""

import re

from django.utils.html import format_html
from django.utils.translation import gettext as _

from callcenter.models import BackgroundJob

Status = BackgroundJob.Status
JobType = BackgroundJob.JobType

_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[\w.@+-]+){2,}/?")
_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.DOTALL)
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP)\b.*", re.IGNORECASE | re.DOTALL)
_MAX_DETAIL = 500


def technical_details(text: str) -> str:
    """The stored message without what staff must never see: paths, SQL, tracebacks."""
    text = _TRACEBACK.sub("", text or "")
    text = _SQL.sub("…", text)
    text = _PATH.sub("…", text)
    return text.strip()[:_MAX_DETAIL]


def _count(job: BackgroundJob, *keys: str) -> int:
    result = job.result or {}
    for key in keys:
        if isinstance(result.get(key), int):
            return result[key]
    return 0


def job_outcome_sentence(job: BackgroundJob) -> str:
    done, total = job.progress_done, job.progress_total
    if job.status == Status.QUEUED:
        return _("Waiting for a worker to start it.")
    if job.status == Status.RUNNING:
        if total:
            return _("In progress: %(done)s of %(total)s done.") % {"done": done, "total": total}
        return _("In progress.")
    if job.status == Status.CANCELLED:
        return _("Cancelled on request after %(done)s of %(total)s; what was done stays done.") % {
            "done": done,
            "total": total if total is not None else done,
        }
    if job.status == Status.FAILED:
        if "heartbeat" in (job.error_message or "") or "Abandoned" in (job.error_message or ""):
            return _(
                "Stopped: the worker running it stopped answering. What was done stays done; "
                "start the action again to finish the rest."
            )
        if job.job_type == JobType.IMPORT_LEADS:
            return _(
                "The import failed after %(done)s rows. Check that the file is a CSV with a phone "
                "column and import it again; rows already imported are updated, not doubled."
            ) % {"done": done}
        return _(
            "Failed after %(done)s of %(total)s. What was done stays done; start the action again "
            "for the rest, and if it fails again, show the details to the system administrator."
        ) % {"done": done, "total": total if total is not None else "?"}
    # Succeeded.
    if job.job_type == JobType.IMPORT_LEADS:
        return _("Imported: %(created)s new leads, %(updated)s updated, %(rejected)s rows rejected.") % {
            "created": _count(job, "created"),
            "updated": _count(job, "updated"),
            "rejected": _count(job, "rejected"),
        }
    if job.job_type in (JobType.DELETE_LEADS, JobType.DELETE_IMPORTED_LEADS):
        sentence = _("Done: %(deleted)s leads deleted.") % {"deleted": _count(job, "deleted")}
        kept = _count(job, "skipped_in_active_call")
        if kept:
            sentence += " " + _("%(kept)s leads were in a call and were kept; delete them again later.") % {
                "kept": kept
            }
        return sentence
    if job.job_type == JobType.UPDATE_LEADS:
        return _("Done: %(updated)s leads updated.") % {"updated": _count(job, "updated")}
    if job.job_type == JobType.ENQUEUE_OUTBOUND_CALLS:
        return _("The run has ended.")
    return _("Done.")


def job_outcome_html(job: BackgroundJob) -> str:
    """The outcome sentence, with the cleaned technical detail behind a "details" toggle."""
    details = technical_details(job.error_message)
    if not details:
        return job_outcome_sentence(job)
    return format_html(
        '<p>{}</p><details class="technical"><summary>{}</summary><p dir="ltr">{}</p></details>',
        job_outcome_sentence(job),
        _("Details"),
        details,
    )
