"""The per-minute copy of buffered watch evidence into WatchEvidence (data only; sessions_app.watch)."""

from django.db import migrations

SCHEDULE = {
    "name": "sessions_app.watch_evidence_flush",
    "func": "sessions_app.tasks.watch_evidence_flush",
    "schedule_type": "I",
    "minutes": 1,
    "repeats": -1,
}


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(name=SCHEDULE["name"], defaults=SCHEDULE)


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE["name"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("sessions_app", "0014_members_only_private"),
    ]

    operations = [migrations.RunPython(create, remove)]
