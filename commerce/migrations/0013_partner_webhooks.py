# Partner webhook URL and signing secret (one fresh secret per existing partner).

import secrets

import commerce.models.partner
import django.core.validators
from django.db import migrations, models


def secrets_fill(apps, schema_editor):
    Partner = apps.get_model("commerce", "Partner")
    for partner in Partner.objects.filter(webhook_secret=""):
        partner.webhook_secret = "whsec_mm_" + secrets.token_urlsafe(32)
        partner.save(update_fields=["webhook_secret"])


class Migration(migrations.Migration):

    dependencies = [
        ('commerce', '0012_outbox'),
    ]

    operations = [
        migrations.AddField(
            model_name='partner',
            name='webhook_secret',
            field=models.CharField(default='', editable=False, help_text='HMAC-SHA256 key of the Micromoments-Signature header; give it to the partner.', max_length=80),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='partner',
            name='webhook_url',
            field=models.URLField(blank=True, help_text='Where signed event notifications are POSTed (https in production); empty = none.', max_length=500, validators=[django.core.validators.URLValidator(schemes=['http', 'https'])]),
        ),
        migrations.RunPython(secrets_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='partner',
            name='webhook_secret',
            field=models.CharField(default=commerce.models.partner.webhook_secret_new, editable=False, help_text='HMAC-SHA256 key of the Micromoments-Signature header; give it to the partner.', max_length=80),
        ),
    ]
