"""django-q's own admin pages for superusers only.

Its task, failure, queue and schedule rows are not tenant-scoped: they carry every business's
task arguments and results, and a schedule names any importable callable for the workers to
run. Tenant staff follow their work on the project's own job pages (background jobs, runs,
imports), which are scoped to their businesses.
"""

from django.contrib import admin
from django_q import admin as task_queue_admin
from django_q.models import Failure, OrmQ, Schedule, Success


class SuperuserOnlyMixin:
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request, *args):
        return request.user.is_active and request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser and super().has_delete_permission(request, obj)


class ScheduleAdmin(SuperuserOnlyMixin, task_queue_admin.ScheduleAdmin):
    pass


class TaskAdmin(SuperuserOnlyMixin, task_queue_admin.TaskAdmin):
    pass


class FailAdmin(SuperuserOnlyMixin, task_queue_admin.FailAdmin):
    pass


class QueueAdmin(SuperuserOnlyMixin, task_queue_admin.QueueAdmin):
    pass


def register_superuser_only() -> None:
    for model, model_admin in (
        (Schedule, ScheduleAdmin),
        (Success, TaskAdmin),
        (Failure, FailAdmin),
        (OrmQ, QueueAdmin),
    ):
        if admin.site.is_registered(model):
            admin.site.unregister(model)
            admin.site.register(model, model_admin)
