from django.db import migrations


def ensure(apps, schema_editor):
    from analytics.schedules import schedules_ensure

    schedules_ensure(apps.get_model("django_q", "Schedule"))


def remove(apps, schema_editor):
    from analytics.schedules import SCHEDULES

    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(ensure, remove)]
