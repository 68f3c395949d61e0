"""Daily django-q2 schedules for the edge hot set and the asset cost ledger (data only)."""

from django.db import migrations

SCHEDULES = {
    "sessions_app.hot_set_rank": "sessions_app.assets.tasks.hot_set_rank_task",
    "sessions_app.asset_cost_ledger": "sessions_app.assets.tasks.asset_cost_ledger_task",
}


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults={"func": func, "schedule_type": "D", "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0008_video_schedules"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(create, remove)]
