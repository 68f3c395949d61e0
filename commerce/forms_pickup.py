"""Forms for pickup: slot choice at "add to cart", reschedule, staff check-in, no-show message, slot rule."""

from __future__ import annotations

import datetime as dt

from django import forms

SHIP = "ship"


class PickupHoldForm(forms.Form):
    """Email + quantity + a pickup slot (or "ship" when the drop allows both)."""

    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "placeholder": "you@example.com"}
        ),
    )

    def __init__(self, *args, max_quantity: int = 99, slot_ids: list[int] = (), allow_ship: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["quantity"] = forms.IntegerField(
            label="Quantity",
            min_value=1,
            max_value=max_quantity,
            initial=1,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        )
        choices = [(str(pk), str(pk)) for pk in slot_ids] + ([(SHIP, "Ship to me")] if allow_ship else [])
        self.fields["slot"] = forms.ChoiceField(
            label="Pickup slot",
            choices=choices,
            widget=forms.RadioSelect,
            error_messages={"required": "Choose a pickup slot.", "invalid_choice": "Choose one of the listed slots."},
        )

    def pickup_slot_id(self) -> int | None:
        value = self.cleaned_data["slot"]
        return None if value == SHIP else int(value)


class RescheduleForm(forms.Form):
    slot = forms.TypedChoiceField(label="New pickup slot", coerce=int)

    def __init__(self, *args, slot_choices: list[tuple[int, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slot"].choices = list(slot_choices)


class CheckinForm(forms.Form):
    code = forms.CharField(
        label="Pass code or order number",
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    payment_collected = forms.BooleanField(required=False, widget=forms.HiddenInput)


class NoShowMessageForm(forms.Form):
    slot_id = forms.IntegerField(widget=forms.HiddenInput)
    message = forms.CharField(
        label="Message",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        initial="Sorry we missed you! Reply to this e-mail or reschedule from your pass to pick up another time.",
    )


class SlotRuleForm(forms.Form):
    """Bulk slot creation: every N minutes from HH:MM to HH:MM local on chosen dates."""

    dates = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, help_text="Local dates of the pop-up.")
    start = forms.TimeField(
        label="From (local time)", initial=dt.time(12), widget=forms.TimeInput(attrs={"type": "time"})
    )
    end = forms.TimeField(label="To (local time)", initial=dt.time(18), widget=forms.TimeInput(attrs={"type": "time"}))
    every_minutes = forms.IntegerField(label="Every (minutes)", min_value=1, max_value=24 * 60, initial=15)
    length_minutes = forms.IntegerField(
        label="Slot length (minutes)", min_value=1, max_value=24 * 60, required=False, help_text="Empty = the interval."
    )
    capacity = forms.IntegerField(min_value=1, max_value=10000, initial=8)
    price_adjust_percent = forms.DecimalField(
        label="Price adjustment (%)",
        max_digits=5,
        decimal_places=2,
        initial=0,
        min_value=-99.99,
        max_value=100,
        help_text="Negative = cheaper for these slots, e.g. -20 for late slots.",
    )

    def __init__(self, *args, popup=None, **kwargs):
        super().__init__(*args, **kwargs)
        days = []
        if popup is not None:
            day = popup.starts_on
            while day <= popup.ends_on and len(days) < 366:
                days.append((day.isoformat(), f"{day:%a %d %b %Y}"))
                day += dt.timedelta(days=1)
        self.fields["dates"].choices = days

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "End after the start time.")
        return data

    def rule(self) -> dict:
        data = self.cleaned_data
        return {
            "dates": [dt.date.fromisoformat(d) for d in data["dates"]],
            "start": data["start"],
            "end": data["end"],
            "every_minutes": data["every_minutes"],
            "length_minutes": data["length_minutes"],
            "capacity": data["capacity"],
            "price_adjust_percent": data["price_adjust_percent"],
        }
