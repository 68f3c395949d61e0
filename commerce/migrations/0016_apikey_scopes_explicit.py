"""Keys get exactly the scopes ticked from now on (docs/access.md, "Scopes").

Until now a key with no scope ticked had every read scope. So that no running integration
breaks silently, such keys get those read scopes written out (sessions, drops, orders,
analytics, samples, pickup); what they reach is still narrowed to their own partner's
objects by the ownership rules. Scope names that never existed (they granted nothing) are
dropped, so the key can be saved under the new validation (a key that had only such names had no
scope and keeps none). Nobody gets `shop`.
Reversing keeps the written-out scopes: under the old rule they grant the same.
"""

from django.db import migrations

IMPLICIT_READ_SCOPES = [
    "sessions:read",
    "drops:read",
    "orders:read",
    "analytics:read",
    "samples:read",
    "pickup:read",
]
KNOWN = {
    "sessions:read",
    "drops:read",
    "orders:read",
    "holds:write",
    "orders:write",
    "analytics:read",
    "analytics:events",
    "samples:read",
    "samples:write",
    "samples:3pl",
    "pickup:read",
    "pickup:write",
    "pickup:checkin",
}


def write_out_scopes(apps, schema_editor):
    ApiKey = apps.get_model("commerce", "ApiKey")
    for key in ApiKey.objects.all().only("pk", "scopes"):
        scopes = key.scopes if isinstance(key.scopes, list) else []
        kept = list(dict.fromkeys(s for s in scopes if s in KNOWN))
        # Only an empty list meant "every read scope"; a list of unknown names granted nothing.
        new = kept if scopes else list(IMPLICIT_READ_SCOPES)
        if new != key.scopes:
            ApiKey.objects.filter(pk=key.pk).update(scopes=new)


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0015_partner_ownership_and_exact_scopes"),
    ]

    operations = [
        migrations.RunPython(write_out_scopes, migrations.RunPython.noop),
    ]
