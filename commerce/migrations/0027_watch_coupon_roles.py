"""Staff roles see personal watch codes (host, analyst, support: commerce.staff_roles.ROLES)."""

from django.db import migrations


def sync(apps, schema_editor):
    from commerce.staff_roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0026_watch_coupons"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
