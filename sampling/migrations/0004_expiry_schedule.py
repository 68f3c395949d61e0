"""Schedule the expiry of reservations left without an address, hourly (django-q2), once."""

from django.db import migrations

NAME = "sampling: expire reservations without an address"


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={"func": "sampling.tasks.sample_requests_expire", "schedule_type": "H", "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("sampling", "0003_reservation_expiry")]
    operations = [migrations.RunPython(add_schedule, remove_schedule)]
