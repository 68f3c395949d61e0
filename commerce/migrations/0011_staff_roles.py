"""Staff roles as groups (owner, host, fulfilment, analyst, support) with their permissions.

Creates the permissions it needs itself (post_migrate has not run yet on a fresh database) and is
safe to re-run: see commerce.staff_roles.roles_sync. Reversing keeps the groups (harmless).
"""

from django.db import migrations


def sync(apps, schema_editor):
    from commerce.staff_roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auditlog", "0017_add_actor_email"),
        ("commerce", "0010_staff_permissions"),
        ("sessions_app", "0004_staff_permissions"),
        ("sampling", "0005_staff_permissions"),
        ("analytics", "0003_staff_permissions"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
