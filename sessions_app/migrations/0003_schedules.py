from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name="sessions_app.plan_series",
        defaults={"func": "sessions_app.tasks.plan_series", "schedule_type": "H", "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="sessions_app.plan_series").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0002_seed_formats"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(create, remove)]
