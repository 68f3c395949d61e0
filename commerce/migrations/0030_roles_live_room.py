"""Issue #13's parts each re-synced the staff roles in their own migration; this one runs after all
of their models exist (followers, reminders, watch codes, waitlists), so every role ends up with
exactly commerce.staff_roles.ROLES whatever order the apps migrate in. Safe to re-run."""

from django.db import migrations


def roles(apps, schema_editor):
    from commerce.staff_roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0029_waitlist_schedules_roles"),
        ("sessions_app", "0013_cadence_moves"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles, migrations.RunPython.noop)]
