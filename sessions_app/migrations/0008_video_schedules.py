"""Session assets, video part: the django-q2 schedules for derivative jobs and abandoned uploads, and
the staff roles re-synced so host, analyst, support and owner get the asset permissions
(commerce.staff_roles.ROLES; safe to re-run)."""

from django.db import migrations

SCHEDULES = {
    # catches up any job whose kick was lost or whose worker died (lease lapsed)
    "sessions_app.asset_jobs": {
        "func": "sessions_app.assets.services.asset_jobs_run_due",
        "schedule_type": "I",
        "minutes": 1,
        "repeats": -1,
    },
    "sessions_app.uploads_abandoned_clean": {
        "func": "sessions_app.assets.uploads.uploads_abandoned_clean",
        "schedule_type": "H",
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
        ("sessions_app", "0007_session_assets"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auditlog", "0017_add_actor_email"),
        ("commerce", "0024_friendly_messages_images_tax"),
        ("sampling", "0007_friendly_constraint_messages"),
        ("analytics", "0004_friendly_constraint_messages"),
    ]
    operations = [migrations.RunPython(create, remove)]
