"""Waitlists and carry-over: the django-q2 schedules (offers lapse and pass on; units returned to ended
carry-over drops move on), and the staff roles re-synced so the host sees waitlists (safe to re-run)."""

from django.db import migrations

SCHEDULES = {
    "commerce.waitlist_offers_expire": {
        "func": "commerce.tasks_waitlist.waitlist_offers_expire_task",
        "schedule_type": "I",
        "minutes": 1,
        "repeats": -1,
    },
    "commerce.stock_carry_over_sweep": {
        "func": "commerce.tasks_waitlist.stock_carry_over_sweep_task",
        "schedule_type": "I",
        "minutes": 1,
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
        ("commerce", "0028_waitlist_offers_carry_over"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auditlog", "0017_add_actor_email"),
        ("sessions_app", "0011_live_room_base"),
        ("sampling", "0007_friendly_constraint_messages"),
        ("analytics", "0004_friendly_constraint_messages"),
    ]
    operations = [migrations.RunPython(create, remove)]
