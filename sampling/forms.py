"""Storefront forms: the two-field micro-form (+ consent) and the country-aware address step."""

from __future__ import annotations

from django import forms

from .addresses import address_rules, country_choices, field_labels
from .models import SampleCampaign


class MicroForm(forms.Form):
    """E-mail + most likely use case + consent; big touch targets, no typing beyond the e-mail."""

    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(
            attrs={
                "autocomplete": "email",
                "inputmode": "email",
                "placeholder": "you@example.com",
                "autocapitalize": "off",
            }
        ),
    )
    consent = forms.BooleanField(
        label="E-mail me about this sample and one follow-up offer.",
        required=True,
        error_messages={"required": "Please agree so that we can send you the sample."},
    )
    session = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, campaign: SampleCampaign, **kwargs):
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.fields["use_case"] = forms.ChoiceField(
            label="You'd most likely use it for…",
            choices=[(u, u) for u in campaign.use_cases],
            widget=forms.RadioSelect(attrs={"class": "choice"}),
        )
        self.order_fields(["email", "use_case", "consent", "session"])
        for name in ("email", "use_case", "consent"):
            self.fields[name].widget.attrs.setdefault("id", f"id_{campaign.slug}_{name}")
        self.auto_id = f"id_{campaign.slug}_%s"


class AddressForm(forms.Form):
    """The address step, shaped by the chosen country (Google's i18n address rules).

    Fields a country does not use are left out; required ones are required; the
    labels are the country's words (ZIP code / postcode, state / province);
    states come as a list where the data has one. Server-side validation is in
    sampling.addresses.address_normalize (called by the service).
    """

    def __init__(self, *args, country: str, allowed_countries: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        rules = address_rules(country)
        labels = field_labels(rules)
        choices = country_choices()
        if allowed_countries:
            choices = [c for c in choices if c[0] in allowed_countries]
        self.fields["country_code"] = forms.ChoiceField(
            label="Country",
            choices=choices,
            initial=country,
            widget=forms.Select(attrs={"autocomplete": "country", "data-country": ""}),
        )
        self.fields["name"] = forms.CharField(
            label=labels["name"], max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
        )
        self.fields["street_address"] = forms.CharField(
            label=labels["street_address"],
            max_length=300,
            widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "street-address"}),
        )
        order = ["country_code", "name", "street_address"]
        for name, autocomplete in (
            ("city_area", "address-level3"),
            ("city", "address-level2"),
            ("postal_code", "postal-code"),
            ("country_area", "address-level1"),
        ):
            if name not in rules.allowed_fields:
                continue
            required = name in rules.required_fields
            area_choices = rules.country_area_choices if name == "country_area" else []
            if area_choices:
                field = forms.ChoiceField(
                    label=labels[name],
                    required=required,
                    choices=[("", "—"), *area_choices],
                    widget=forms.Select(attrs={"autocomplete": autocomplete}),
                )
            else:
                attrs = {"autocomplete": autocomplete}
                if name == "postal_code":
                    attrs["autocapitalize"] = "characters"
                    if rules.postal_code_examples:
                        attrs["placeholder"] = rules.postal_code_examples[0]
                field = forms.CharField(
                    label=labels[name], required=required, max_length=120, widget=forms.TextInput(attrs=attrs)
                )
            self.fields[name] = field
            order.append(name)
        self.order_fields(order)
