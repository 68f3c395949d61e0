"""Control-room forms: each action is a small POST form with a hidden `action` name."""

from __future__ import annotations

from django import forms

from .services import MAX_REDEMPTIONS, MINUTES_RANGE, PERCENT_RANGE


class FlashCouponForm(forms.Form):
    """Fire a flash coupon: N % off this session's drops for M minutes, capped at K uses."""

    percent_off = forms.IntegerField(
        label="Percent off", min_value=PERCENT_RANGE[0], max_value=PERCENT_RANGE[1], initial=15
    )
    minutes = forms.IntegerField(label="For minutes", min_value=MINUTES_RANGE[0], max_value=MINUTES_RANGE[1], initial=5)
    max_redemptions = forms.IntegerField(label="Cap (uses)", min_value=1, max_value=MAX_REDEMPTIONS, initial=20)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "flash")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.update({"inputmode": "numeric"})


class DropChoiceForm(forms.Form):
    """Names one of the session's drops (pin / open / close); an empty choice unpins."""

    drop_id = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)

    def __init__(self, *args, drops=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["drop_id"].choices = [("", "—"), *((d.pk, d.display_title) for d in drops)]
