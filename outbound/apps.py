from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboundConfig(AppConfig):
    name = "outbound"
    verbose_name = _("Outbound")

    def ready(self) -> None:
        from callcenter.signals import background_job_abandoned
        from leads.signals import lead_batch_pre_delete
        from outbound import receivers

        background_job_abandoned.connect(receivers.fail_run_of_abandoned_job, dispatch_uid="outbound_abandoned_run")
        lead_batch_pre_delete.connect(receivers.release_calls_of_deleted_leads, dispatch_uid="outbound_lead_delete")
