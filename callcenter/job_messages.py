from django.utils.translation import gettext_lazy as _

# msgids are English; the Hebrew catalogue carries the seed's messages verbatim.
ACTIVE_JOB_MESSAGES = {
    "enqueue_outbound_calls": _("An active call queue already exists. Please wait for the current queue to finish"),
    "delete_leads": _("An active bulk delete already exists. Please wait for the current delete to finish"),
    "delete_imported_leads": _("An active bulk delete already exists. Please wait for the current delete to finish"),
    "update_leads": _("An active bulk update already exists. Please wait for the current update to finish"),
    "import_leads": _("An active lead import already exists. Please wait for the current import to finish"),
}


def active_job_message(job_type: str):
    return ACTIVE_JOB_MESSAGES.get(job_type, _("A job of this type is already active. Please wait for it to finish"))
