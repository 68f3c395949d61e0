"""Shipping rates and the manual provider's tax table (docs/shipping-tax.md)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

REST_OF_WORLD = "*"


class ShippingRate(models.Model):
    """A flat shipping price **per order** (not per unit) to a list of countries, in one currency.

    `countries` is a list of ISO 3166-1 alpha-2 codes; "*" means every country that no other
    active rate of the currency names. `free_over_minor`: orders whose goods total (after
    discount) reaches it ship free. Amounts are integer minor units of `currency`.
    """

    name = models.CharField(max_length=100, help_text='Shown to buyers, e.g. "Standard (DHL, 2–4 days)".')
    countries = models.JSONField(
        default=list, help_text='ISO country codes, e.g. ["DE", "AT"]; "*" = every other country.'
    )
    currency = models.CharField(max_length=3)
    amount_minor = models.PositiveBigIntegerField(help_text="Price per order in minor units of the currency.")
    free_over_minor = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Ships free when the goods total (after discount) is at least this."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "amount_minor", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency}, {', '.join(self.countries)})"


class TaxRate(models.Model):
    """The tax rate (VAT/GST) the manual provider applies per destination country, with its source."""

    country = models.CharField(max_length=2, unique=True, help_text="ISO 3166-1 alpha-2 code, e.g. DE.")
    name = models.CharField(max_length=40, default="VAT", help_text="VAT, GST, MwSt, …: shown to buyers.")
    rate_percent = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Standard rate in percent, e.g. 19.000.",
    )
    source = models.CharField(max_length=300, blank=True, help_text="Where the rate comes from (URL, as of date).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_percent__gte=0, rate_percent__lte=100),
                name="tax_rate_percent_in_range",
                violation_error_message="A tax rate is a percentage from 0 to 100.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.name} {self.rate_percent.normalize()} %"
