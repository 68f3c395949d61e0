from django.db import migrations


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="commerce.refunds_reconcile",
        defaults={"func": "commerce.tasks.refunds_reconcile", "schedule_type": "I", "minutes": 5, "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="commerce.refunds_reconcile").delete()


class Migration(migrations.Migration):
    """Every 5 minutes: settle refunds left pending (a submission that died) with the payment provider."""

    dependencies = [
        ("commerce", "0008_refund_origin_provider_states"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(create, remove)]
