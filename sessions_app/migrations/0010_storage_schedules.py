"""Schedules for asset storage: the daily tier move and the archive-restore poll (data only)."""

from django.db import migrations

SCHEDULES = {
    "sessions_app.assets_tier_move_due": {
        "func": "sessions_app.assets.storage_tasks.assets_tier_move_due_task",
        "schedule_type": "D",
        "repeats": -1,
    },
    "sessions_app.assets_restore_poll": {
        "func": "sessions_app.assets.storage_tasks.assets_restore_poll_task",
        "schedule_type": "I",
        "minutes": 10,
        "repeats": -1,
    },
}


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, fields in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults=fields)


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0009_costs_schedules"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(create, remove)]
