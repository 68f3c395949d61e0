"""Money in the back office: entered and shown in major units of each currency, stored as minor units.

Every amount is stored as an integer count of the currency's minor unit (commerce.money). Staff type
and read major units: "12.50" EUR is stored as 1250, "1500" JPY as 1500, "1.250" KWD as 1250.

- `MajorUnitsField` / `MoneyWidget`: a text input followed by the currency code ("12.50 EUR").
- `money_form(form_class, money_fields)`: a subclass of a ModelForm whose money fields take major
  units; `clean()` converts them to minor units with the row's currency before the form's own
  `clean()` runs (so services and model validation only ever see minor units).
- `MoneyAdminMixin` (ModelAdmin and inlines): `money_fields = {"price_minor": "currency"}`; the value
  names the currency as a form/model field, or is a callable `(form) -> "EUR"` (e.g. "the SKU's").
- `money_column(field, currency="currency")`: a formatted list column / read-only field ("12.50 EUR").

Errors (form errors, never a 500): not a number (incl. "1e3", NaN, Infinity), negative, more decimals
than the currency has (JPY none, KWD 3), not a multiple of the step Stripe takes
(`commerce.money.minor_step`: KWD in steps of 0.010), or an amount with no currency to read it in.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import InvalidOperation

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from .money import (
    MoneyError,
    check_currency,
    format_money,
    minor_step,
    minor_unit_exponent,
    parse_plain_decimal,
    to_major,
    to_minor,
)

CurrencySource = str | Callable[[forms.BaseForm], str]


def money_text(amount_minor: int | None, currency: str | None) -> str:
    """'12.50 EUR' for (1250, "EUR"), '1,500 JPY' for (1500, "JPY"); '—' when amount or currency is missing.

    Plain digits with thousands separators and the ISO code (unambiguous for staff: "$" is several currencies).
    """
    if amount_minor is None or not currency:
        return "—"
    try:
        exponent = minor_unit_exponent(currency)
    except MoneyError:
        return f"{amount_minor} (minor units, unknown currency {currency!r})"
    return f"{to_major(amount_minor, currency):,.{exponent}f} {currency.upper()}"


def money_column(field: str, currency: str = "currency", *, description: str | None = None) -> Callable:
    """A list_display / readonly_fields callable showing `obj.<field>` (minor units) as '12.50 EUR'.

    `currency` is the attribute holding the ISO code (dotted paths allowed: "order.currency").
    Sortable by the underlying field.
    """

    def column(*args):
        obj = args[-1]  # called as a plain function (list_display entry) or as a ModelAdmin method
        cur = obj
        for part in currency.split("."):
            cur = getattr(cur, part, None)
        return money_text(getattr(obj, field, None), cur)

    label = description or field.removesuffix("_minor").replace("_", " ").capitalize()
    column = admin.display(description=label, ordering=field)(column)
    column.__name__ = f"{field}_money"
    return column


class MoneyWidget(forms.TextInput):
    """A text input for major units followed by the currency code (known currency) or a hint."""

    def __init__(self, attrs=None):
        super().__init__({"inputmode": "decimal", "size": 12, "class": "mm-money", **(attrs or {})})
        self.currency = ""

    def render(self, name, value, attrs=None, renderer=None):
        html = super().render(name, value, attrs, renderer)
        suffix = self.currency or "in the currency chosen"
        return format_html('{} <span class="mm-money-currency">{}</span>', html, suffix)


class MajorUnitsField(forms.CharField):
    """An amount typed in major units ("12.50"); cleans to a Decimal (≥ 0), or None when empty and optional.

    The conversion to minor units (and the check of decimals against the currency) is done by the
    form made by `money_form`, which knows the currency of the row.
    """

    widget = MoneyWidget

    def to_python(self, value):
        text = (super().to_python(value) or "").strip().replace(",", "").replace(" ", "")
        if not text:
            return None
        try:
            amount = parse_plain_decimal(text)
        except (MoneyError, InvalidOperation):
            raise forms.ValidationError("Enter an amount such as 12.50.", code="invalid") from None
        if not amount.is_finite():
            raise forms.ValidationError("Enter an amount such as 12.50.", code="invalid")
        if amount < 0:
            raise forms.ValidationError("The amount cannot be negative.", code="negative")
        return amount


def decimals_message(currency: str) -> str:
    """The error for too many decimals, worded for the currency (JPY: whole amounts; KWD: 3 decimals)."""
    exponent = minor_unit_exponent(currency)
    if exponent == 0:
        return f"{currency} has no decimals: enter a whole amount, e.g. 1500."
    example = f"12.{'5'.ljust(exponent, '0')}"
    return f"{currency} takes at most {exponent} decimals, e.g. {example}."


def step_message(currency: str) -> str:
    """The error for an amount Stripe refuses: 'KWD amounts go in steps of 0.010, e.g. 1.550 or 1.560.'"""
    step = minor_step(currency)
    exponent = minor_unit_exponent(currency)
    step_text = f"{to_major(step, currency):.{exponent}f}"
    return (
        f"{currency} amounts go in steps of {step_text} ({format_money(step, currency)}): "
        f"Stripe refuses other amounts, so buyers could not pay."
    )


class MoneyFormMixin:
    """ModelForm mixin: the fields named in `money_fields` are typed in major units, cleaned to minor units."""

    money_fields: dict[str, CurrencySource] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.money_fields:
            old = self.fields.get(name)
            if old is None or isinstance(old, MajorUnitsField):
                continue
            help_text = old.help_text or ""
            if "minor unit" in help_text.lower() or "cents" in help_text.lower():
                help_text = ""
            label = old.label
            if label and label.lower().endswith(" minor"):
                # "Amount off minor" (from amount_off_minor): staff type major units, so no "minor" in the label.
                label = label[: -len(" minor")]
            field = MajorUnitsField(
                required=old.required,
                label=label,
                help_text=help_text or "In major units of the currency (e.g. 12.50; JPY whole yen; KWD 3 decimals).",
                disabled=old.disabled,
            )
            self.fields[name] = field
            currency = self._money_currency(name, initial=True)
            field.widget.currency = currency
            value = self.initial.get(name)
            if isinstance(value, int) and currency:
                self.initial[name] = f"{to_major(value, currency):.{minor_unit_exponent(currency)}f}"

    def _money_currency(self, name: str, *, initial: bool = False) -> str:
        source = self.money_fields[name]
        if callable(source):
            code = source(self)
        elif initial:
            code = self.initial.get(source) or getattr(getattr(self, "instance", None), source, "")
        else:
            data = getattr(self, "cleaned_data", {})
            code = data.get(source) if source in data else getattr(getattr(self, "instance", None), source, "")
        try:
            return check_currency(code) if code else ""
        except MoneyError:
            return ""

    def clean(self):
        for name in self.money_fields:
            if name not in self.fields or name not in self.cleaned_data:
                continue
            amount = self.cleaned_data[name]
            if amount is None:
                continue
            currency = self._money_currency(name)
            if not currency:
                self.add_error(name, "Choose the currency first: the amount is read in its major units.")
                continue
            try:
                minor = to_minor(amount, currency)
            except MoneyError:
                self.add_error(name, decimals_message(currency))
                continue
            step = minor_step(currency)
            if minor % step:
                self.add_error(name, step_message(currency))
                continue
            self.cleaned_data[name] = minor
        return super().clean()


def money_form(form_class: type[forms.BaseForm], money_fields: dict[str, CurrencySource]) -> type:
    """`form_class` with `money_fields` entered in major units (see MoneyFormMixin)."""
    if not money_fields:
        return form_class
    return type(form_class.__name__, (MoneyFormMixin, form_class), {"money_fields": dict(money_fields)})


class MoneyAdminMixin:
    """ModelAdmin / InlineModelAdmin mixin: `money_fields = {"price_minor": "currency"}` are typed in major units.

    The value is the name of the field holding the ISO code, or a callable `(form) -> code` (for
    amounts whose currency lives elsewhere, e.g. a drop priced in its SKU's currency). Use
    `money_column(...)` for list columns and read-only displays.
    """

    money_fields: dict[str, CurrencySource] = {}

    def get_form(self, request, obj=None, **kwargs):
        return money_form(super().get_form(request, obj, **kwargs), self.money_fields)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = money_form(formset.form, self.money_fields)
        return formset
