from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallcenterConfig(AppConfig):
    name = "callcenter"
    verbose_name = _("Call center")

    def ready(self) -> None:
        from django.apps import apps

        from callcenter import db_lookups  # noqa: F401  (registers the `__any` lookup)

        if apps.is_installed("django_q"):
            # Its admin section is otherwise titled with its settings label, in English.
            apps.get_app_config("django_q").verbose_name = _("Task queue")
        from callcenter.ops import instrumentation

        instrumentation.install()
