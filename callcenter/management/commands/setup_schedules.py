from django.core.management.base import BaseCommand

from callcenter.schedules import schedules_ensure


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules the system needs (idempotent)."

    def handle(self, *args, **options):
        for schedule in schedules_ensure():
            self.stdout.write(f"schedule {schedule.name}: {schedule.func} every {schedule.minutes or '-'} min")
