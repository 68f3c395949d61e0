from django import forms


class FollowForm(forms.Form):
    """The follow form on a series page: one e-mail address."""

    email = forms.EmailField(
        label="Your e-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
