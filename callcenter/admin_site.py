"""The console's admin site: branded header and title, and a home page for staff above the
model list (today's runs with progress, active jobs, recent imports, failed downloads)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class ConsoleAdminSite(admin.AdminSite):
    site_header = _("Call center console")
    site_title = _("Call center console")
    index_title = _("Today at the call center")
    index_template = "admin/callcenter/index.html"

    def index(self, request, extra_context=None):
        from callcenter.admin_home import staff_home

        extra_context = {**(extra_context or {}), "home": staff_home(user=request.user)}
        return super().index(request, extra_context)


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin with the console's site as admin.site."""

    default_site = "callcenter.admin_site.ConsoleAdminSite"
