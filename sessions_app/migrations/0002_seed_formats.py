from django.db import migrations

FORMATS = [
    {
        "slug": "product-highlight-60s",
        "name": "60-second product highlight",
        "kind": "highlight",
        "duration_seconds": 60,
        "max_featured_skus": 1,
        "has_coupon": False,
        "description": "One product, one minute, limited stock: show it, say the price, open the drop.",
    },
    {
        "slug": "ama-10min",
        "name": "10-minute AMA + featured SKU",
        "kind": "ama",
        "duration_seconds": 600,
        "max_featured_skus": 1,
        "has_coupon": False,
        "description": "Ten minutes of questions and answers around one featured SKU.",
    },
    {
        "slug": "drop-demo",
        "name": "Drop-style demo with time-limited coupon",
        "kind": "drop_demo",
        "duration_seconds": 900,
        "max_featured_skus": 3,
        "has_coupon": True,
        "description": "A live demo that opens a drop and a coupon valid for the session window plus 15 minutes.",
    },
]


def seed(apps, schema_editor):
    SessionFormat = apps.get_model("sessions_app", "SessionFormat")
    for fmt in FORMATS:
        SessionFormat.objects.update_or_create(slug=fmt["slug"], defaults=fmt)


def unseed(apps, schema_editor):
    apps.get_model("sessions_app", "SessionFormat").objects.filter(slug__in=[f["slug"] for f in FORMATS]).delete()


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
