"""Staff views of community bundles (docs/bundles.md).

- Bundles: pick a drop that has not started selling, a private micro-session (LiveSession with
  "is private" ticked: create one in Sessions first) and a seat cap. Saving goes through the services
  (commerce.memberships.services_bundles): seats_available starts at the cap; a lower cap than the seats
  sold or held is refused with a clear message. Ordinary add/change permissions of commerce.bundle.
- Bundle seats: read-only (status, buyer, order). The personal join link is never shown to staff: it is
  the buyer's private link, e-mailed to the address on the order.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction

from sessions_app.models import LiveSession

from ..models import Bundle, BundleSeat
from .services_bundles import BundleInvalid, bundle_create, bundle_set_seat_cap, private_session_create


class BundleForm(forms.ModelForm):
    new_session_title = forms.CharField(
        required=False,
        max_length=200,
        label="…or create a private session: title",
        help_text="Leave the private session empty and name a new one here (it gets the drop's session's "
        "series, format, time zone and stream URL).",
    )
    new_session_starts_at = forms.DateTimeField(
        required=False, label="…its start", help_text="When the new private session starts (after the drop's session)."
    )

    class Meta:
        model = Bundle
        fields = ["drop", "private_session", "seat_cap", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "private_session" in self.fields:
            self.fields["private_session"].required = False  # or a new one from the two fields below
            self.fields["private_session"].queryset = LiveSession.objects.filter(is_private=True).order_by("-starts_at")
            self.fields["private_session"].help_text = (
                "Only private micro-sessions are listed (Sessions → tick “is private”). Their page is reached "
                "only by a seat's join link."
            )

    def clean_seat_cap(self):
        cap = self.cleaned_data["seat_cap"]
        if cap is None or cap < 1:
            raise forms.ValidationError("A bundle needs at least 1 seat.")
        if self.instance.pk:
            taken = self.instance.seat_cap - self.instance.seats_available
            if cap < taken:
                raise forms.ValidationError(
                    f"{taken} seat(s) are already sold or held: the cap cannot go below {taken}."
                )
        return cap

    def clean(self):
        data = super().clean()
        if self.instance.pk:
            return data
        if data.get("private_session") is None and not data.get("new_session_title"):
            self.add_error("private_session", "Pick a private session, or name a new one below.")
        if data.get("private_session") is None and data.get("new_session_title"):
            self.errors.pop("private_session", None)
            if data.get("new_session_starts_at") is None:
                self.add_error("new_session_starts_at", "Give the new private session a start.")
            drop = data.get("drop")
            starts = data.get("new_session_starts_at")
            if drop is not None and starts is not None and starts < drop.session.starts_at:
                self.add_error("new_session_starts_at", "The private session starts after the drop's session.")
        return data

    def clean_drop(self):
        drop = self.cleaned_data["drop"]
        if not self.instance.pk and drop is not None and drop.holds.exists():
            raise forms.ValidationError(
                "This drop has already been held or sold without seats: pair a drop that has not started selling."
            )
        return drop


@admin.register(Bundle)
class BundleAdmin(admin.ModelAdmin):
    form = BundleForm
    list_display = ["drop", "private_session", "seat_cap", "seats_available", "seats_confirmed", "created_at"]
    list_select_related = ["drop__sku__product", "drop__session", "private_session"]
    search_fields = ["drop__sku__code", "private_session__title", "note"]
    readonly_fields = ["seats_available", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["drop", "private_session"] if obj is not None else []
        return [*super().get_readonly_fields(request, obj), *fixed]

    @admin.display(description="Seats confirmed")
    def seats_confirmed(self, obj):
        return obj.seats.filter(status=BundleSeat.Status.CONFIRMED).count()

    def save_model(self, request, obj, form, change):
        """Through the services: a new bundle starts with every seat free; a cap change moves the free seats."""
        if change:
            saved = bundle_set_seat_cap(bundle_id=obj.pk, seat_cap=form.cleaned_data["seat_cap"])
            Bundle.objects.filter(pk=obj.pk).update(note=form.cleaned_data.get("note", ""))
            obj.seat_cap, obj.seats_available = saved.seat_cap, saved.seats_available
            return
        private = form.cleaned_data.get("private_session")
        try:
            with transaction.atomic():
                if private is None:
                    private = private_session_create(
                        drop_id=form.cleaned_data["drop"].pk,
                        title=form.cleaned_data["new_session_title"],
                        starts_at=form.cleaned_data["new_session_starts_at"],
                    )
                created = self._create(form, private)
        except BundleInvalid as exc:  # lost a race with the form's checks: say so, never a 500
            raise forms.ValidationError(exc.message) from exc
        obj.pk, obj.seats_available, obj.created_at = created.pk, created.seats_available, created.created_at
        obj.private_session = private
        obj._state.adding = False

    def _create(self, form, private):
        return bundle_create(
            drop_id=form.cleaned_data["drop"].pk,
            private_session_id=private.pk,
            seat_cap=form.cleaned_data["seat_cap"],
            note=form.cleaned_data.get("note", ""),
        )


@admin.register(BundleSeat)
class BundleSeatAdmin(admin.ModelAdmin):
    list_display = ["pk", "bundle", "customer", "order", "status", "created_at", "released_at"]
    list_filter = ["status"]
    list_select_related = ["bundle__drop__sku__product", "bundle__drop__session", "customer", "order"]
    search_fields = ["customer__email", "order__number"]
    fields = ["bundle", "customer", "order", "hold", "status", "created_at", "released_at"]  # never the join token
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
