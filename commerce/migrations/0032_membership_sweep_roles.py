"""Memberships (docs/memberships.md): the django-q2 schedule of the membership sweep (manual renewals, period
ends, grace periods over) every 5 minutes, and the staff roles re-synced so support can manage memberships
and the analyst can read them (safe to re-run)."""

from django.db import migrations

SCHEDULES = {
    "commerce.memberships_sweep": {
        "func": "commerce.memberships.tasks_billing.memberships_sweep_task",
        "schedule_type": "I",
        "minutes": 5,
        "repeats": -1,
    },
}


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, fields in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults=fields)
    from commerce.staff_roles import roles_sync

    roles_sync(apps)


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0031_retention_models"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sessions_app", "0013_cadence_moves"),
    ]
    operations = [migrations.RunPython(create, remove)]
