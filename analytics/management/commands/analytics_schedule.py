from django.core.management.base import BaseCommand
from django_q.models import Schedule

from analytics.schedules import SCHEDULES, schedules_ensure


class Command(BaseCommand):
    help = "Create or repair the django-q2 schedules that flush analytics events and update rollups."

    def handle(self, *args, **options):
        created = schedules_ensure(Schedule)
        self.stdout.write(f"{len(SCHEDULES)} analytics schedule(s) ensured, {created} created.")
