from django.db import migrations


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="commerce.holds_expire",
        defaults={"func": "commerce.tasks.holds_expire", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="commerce.holds_expire").delete()


class Migration(migrations.Migration):
    dependencies = [("commerce", "0002_holds_coupons_pricing_payments"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]
    operations = [migrations.RunPython(create, remove)]
