"""Storefront forms of memberships: join a plan, ask for the member link (an e-mail address each)."""

from __future__ import annotations

from django import forms


class MemberEmailForm(forms.Form):
    """One e-mail address (the join form and "send me my member link")."""

    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "placeholder": "you@example.com"}
        ),
    )
