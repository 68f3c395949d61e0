from django import forms


class HoldForm(forms.Form):
    """Email + quantity; the quantity is capped at the drop's per-customer limit."""

    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "placeholder": "you@example.com"}
        ),
    )

    def __init__(self, *args, max_quantity: int = 99, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["quantity"] = forms.IntegerField(
            label="Quantity",
            min_value=1,
            max_value=max_quantity,
            initial=1,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        )


class CheckoutForm(forms.Form):
    """The optional coupon code entered on the cart (hold) page."""

    coupon_code = forms.CharField(
        label="Coupon code",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "autocomplete": "off"}),
    )
