from django.db import migrations


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="commerce.member_credits_grant",
        defaults={
            "func": "commerce.memberships.tasks_credits.member_credits_grant",
            "schedule_type": "I",
            "minutes": 15,
            "repeats": -1,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="commerce.member_credits_grant").delete()


class Migration(migrations.Migration):
    """Every 15 minutes: missed-session credits for ended members-only sessions (docs/members-only.md)."""

    dependencies = [
        ("commerce", "0032_membership_sweep_roles"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(create, remove)]
