"""Admin for shipping rates and the manual provider's tax table (owner role; docs/shipping-tax.md)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from sampling.addresses import country_choices

from .admin_money import MoneyAdminMixin
from .models import ShippingRate, TaxRate
from .models.shipping import REST_OF_WORLD
from .money import MoneyError, check_currency, format_money


class ShippingRateForm(forms.ModelForm):
    countries = forms.CharField(
        help_text='ISO country codes separated by commas or spaces, e.g. "DE, AT, CH"; "*" = every other country.'
    )

    class Meta:
        model = ShippingRate
        fields = ["name", "countries", "currency", "amount_minor", "free_over_minor", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["countries"] = ", ".join(self.instance.countries)

    def clean_countries(self) -> list[str]:
        codes = [c.strip().upper() for c in self.cleaned_data["countries"].replace(",", " ").split() if c.strip()]
        known = dict(country_choices())
        unknown = [c for c in codes if c != REST_OF_WORLD and c not in known]
        if unknown:
            raise forms.ValidationError(f"Unknown country code(s): {', '.join(unknown)} (use ISO codes such as DE).")
        if not codes:
            raise forms.ValidationError('Name at least one country, or "*" for every other country.')
        return sorted(set(codes))

    def clean_currency(self) -> str:
        try:
            return check_currency(self.cleaned_data["currency"])
        except MoneyError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(ShippingRate)
class ShippingRateAdmin(MoneyAdminMixin, admin.ModelAdmin):
    form = ShippingRateForm
    money_fields = {"amount_minor": "currency", "free_over_minor": "currency"}  # typed in major units
    list_display = ["name", "country_list", "price", "free_over", "active"]
    list_filter = ["active", "currency"]
    search_fields = ["name"]

    @admin.display(description="Countries")
    def country_list(self, obj):
        return ", ".join(obj.countries)

    @admin.display(description="Price per order", ordering="amount_minor")
    def price(self, obj):
        return format_money(obj.amount_minor, obj.currency)

    @admin.display(description="Free from")
    def free_over(self, obj):
        return "—" if obj.free_over_minor is None else format_money(obj.free_over_minor, obj.currency)


class TaxRateForm(forms.ModelForm):
    class Meta:
        model = TaxRate
        fields = ["country", "name", "rate_percent", "source"]

    def clean_country(self) -> str:
        code = self.cleaned_data["country"].strip().upper()
        if code not in dict(country_choices()):
            raise forms.ValidationError("Use an ISO country code such as DE.")
        return code


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    form = TaxRateForm
    list_display = ["country", "name", "rate_percent", "source", "updated_at"]
    search_fields = ["country", "name"]
