"""manage.py seed_sampling_demo: a sample campaign on the demo series (run after seed_demo). Safe to run again."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from commerce.models import Sku
from sampling.models import SampleCampaign
from sampling.services.campaigns import campaign_create
from sessions_app.models import Series

SERIES_SLUG = "weekly-jewellery-drop"
SLUG = "try-the-gemstone"


class Command(BaseCommand):
    help = "Create the demo sample campaign (micro-form on the demo series' session pages)."

    def handle(self, *args, **options):
        series = Series.objects.filter(slug=SERIES_SLUG).first()
        sku = Sku.objects.filter(code="gemstone-blue").first()
        if series is None or sku is None:
            raise CommandError("Run `manage.py seed_demo` first (it creates the series and imports the catalog).")
        existing = SampleCampaign.objects.filter(slug=SLUG).first()
        if existing is not None:
            self.stdout.write(
                f"Sample campaign {existing.name!r}: {existing.available} of {existing.quantity} samples left."
            )
            return
        now = timezone.now()
        campaign = campaign_create(
            name="Try the gemstone",
            slug=SLUG,
            sku=sku,
            series=series,
            description="A free trial piece before the next drop, with a personal offer for the next session.",
            quantity=25,
            unit_cost_minor=350,
            declared_value_minor=sku.price_minor,
            currency=sku.currency,
            opens_at=now - dt.timedelta(minutes=5),
            closes_at=now + dt.timedelta(days=14),
            use_cases=["Everyday wear", "A gift", "Special occasion"],
            preferred_use_cases=["A gift"],
            vetting_threshold=60,
            offer_percent_off=Decimal("15"),
            offer_hours_after=48,
        )
        self.stdout.write(
            self.style.SUCCESS(f"Sample campaign {campaign.name!r} open at {campaign.get_absolute_url()}")
        )
