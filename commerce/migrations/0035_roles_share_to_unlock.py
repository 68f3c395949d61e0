"""Share-to-unlock (issue #14 part 5): hosts manage share campaigns and read links and unlocks; analysts
read all three; support reads unlocks. Re-syncs every role to commerce.staff_roles.ROLES. Safe to re-run."""

from django.db import migrations


def roles(apps, schema_editor):
    from commerce.staff_roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0034_roles_bundles_trials"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles, migrations.RunPython.noop)]
