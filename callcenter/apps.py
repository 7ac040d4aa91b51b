from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallcenterConfig(AppConfig):
    name = "callcenter"
    verbose_name = _("Call center")

    def ready(self) -> None:
        from callcenter import db_lookups  # noqa: F401  (registers the `__any` lookup)
        from callcenter.ops import instrumentation

        instrumentation.install()
