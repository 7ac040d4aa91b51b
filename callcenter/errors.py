"""The application's one error family. Services raise these; the API maps them to JSON
in one place (callcenter.api_errors) and admin actions show them as messages."""

from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    status_code = 400
    code = "error"
    default_message = _("The request could not be completed.")

    def __init__(self, message=None, *, extra: dict | None = None):
        self.message = message if message is not None else self.default_message
        self.extra = extra or {}
        super().__init__(str(self.message))

    def as_dict(self) -> dict:
        return {"error": str(self.message), "code": self.code, **self.extra}


class Forbidden(ApplicationError):
    status_code = 403
    code = "permission_denied"
    default_message = _("You do not have permission to perform this action.")


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_message = _("Not found.")


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"
    default_message = _("The request conflicts with the current state.")


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "payload_too_large"
    default_message = _("The request body is larger than this server accepts.")


class ServiceUnavailable(ApplicationError):
    """Something we depend on (the database, the task queue) refused for now: trying again
    later may work, so 503, not 500."""

    status_code = 503
    code = "service_unavailable"
    default_message = _("The server could not complete the request.")


class ActiveJobExists(Conflict):
    """A job of the same type is queued or running for this business."""

    code = "active_job_exists"

    def __init__(self, job):
        from callcenter.job_messages import active_job_message

        self.job = job
        super().__init__(active_job_message(job.job_type), extra={"job_id": job.pk, "status": job.status})
