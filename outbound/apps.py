from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboundConfig(AppConfig):
    name = "outbound"
    verbose_name = _("Outbound")

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from callcenter.models import BackgroundJob
        from callcenter.signals import job_abandoned
        from leads.signals import lead_batch_pre_delete
        from outbound import receivers

        job_abandoned.connect(
            receivers.fail_run_of_abandoned_job, sender=BackgroundJob, dispatch_uid="outbound_abandoned_run"
        )
        lead_batch_pre_delete.connect(receivers.release_calls_of_deleted_leads, dispatch_uid="outbound_lead_delete")
        post_spawn.connect(receivers.start_wakeup_pump, dispatch_uid="outbound_wakeup_pump")
