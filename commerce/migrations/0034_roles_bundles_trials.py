"""Community bundles and trial returns: hosts manage bundles, support marks returned trials received
(commerce.receive_trialreturn), fulfilment sees the returns. Re-syncs every role to
commerce.staff_roles.ROLES once the retention models exist. Safe to re-run."""

from django.db import migrations


def roles(apps, schema_editor):
    from commerce.staff_roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0033_member_credits_schedule"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles, migrations.RunPython.noop)]
