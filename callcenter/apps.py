from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallcenterConfig(AppConfig):
    name = "callcenter"
    verbose_name = _("Call center")

    def ready(self) -> None:
        from django.apps import apps
        from django_q.signals import pre_execute

        from callcenter import (
            db_lookups,  # noqa: F401  (registers the `__any` lookup)
            production,  # noqa: F401  (registers the deploy check of the secret key)
            receivers,
        )

        if apps.is_installed("django_q"):
            # Its admin section is otherwise titled with its settings label, in English.
            apps.get_app_config("django_q").verbose_name = _("Task queue")
        if apps.is_installed("axes"):
            apps.get_app_config("axes").verbose_name = _("Login protection")

        from callcenter.ops import instrumentation

        instrumentation.install()
        pre_execute.connect(receivers.log_task_start, dispatch_uid="callcenter_log_task_start")
