"""Pop-up pickup: a physical pop-up, its pickup slots (scarce capacity) and the bookings (passes).

Capacity accounting mirrors drop stock: `PickupSlot.available` is the number of
places neither booked nor held. A hold placed with a slot takes one place in
the same transaction as its units (commerce.locks.pickup_slot_take); the place
goes back wherever the hold's units go back (expiry, release, cancel, expired
checkout) and with a cancelled booking. The database refuses any value outside
0..capacity.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import validate_timezone


class PopUp(models.Model):
    """A short physical pop-up where buyers collect what they pre-bought during live sessions.

    Slot times are stored in UTC and shown in the pop-up's IANA `timezone`.
    `partner` scopes the partner API: a pickup partner sees only its pop-ups.
    """

    name = models.CharField(max_length=200)
    address = models.TextField(help_text="Street address shown on the pass and in the calendar entry.")
    timezone = models.CharField(max_length=64, default="Europe/Berlin", validators=[validate_timezone])
    starts_on = models.DateField(help_text="First day of the pop-up (local date).")
    ends_on = models.DateField(help_text="Last day of the pop-up (local date).")
    sessions = models.ManyToManyField(
        "sessions_app.LiveSession", blank=True, related_name="popups", help_text="Live sessions that sell for it."
    )
    partner = models.ForeignKey(
        "commerce.Partner",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="popups",
        help_text="Pickup partner whose API keys may see and operate this pop-up.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "name"]
        verbose_name = "pop-up"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")),
                name="popup_ends_after_start",
                violation_error_message="A pop-up cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class PickupSlot(models.Model):
    """A pickup window at a pop-up: [starts_at, ends_at) in UTC with `capacity` places.

    `available` = places neither booked nor held; only changed by commerce.locks.
    A closed slot takes no new bookings (existing ones stay valid).
    `price_adjust_percent` changes the unit price of pickup-bound items for this
    slot through commerce.pricing (e.g. -20 = 20 % cheaper for a late slot).
    """

    popup = models.ForeignKey(PopUp, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField(help_text="Bookings this slot can take.")
    available = models.IntegerField(help_text="Places neither booked nor held. Maintained by the system.")
    closed = models.BooleanField(default=False, help_text="Closed slots take no new bookings.")
    price_adjust_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=0,
        help_text="Percent added to the unit price for this slot; negative = cheaper (e.g. -20).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "pk"]
        verbose_name = "pickup slot"
        constraints = [
            models.CheckConstraint(
                condition=Q(available__gte=0),
                name="pickup_slot_available_non_negative",
                violation_error_message="A pickup slot cannot have fewer than 0 places left.",
            ),
            models.CheckConstraint(
                condition=Q(available__lte=F("capacity")),
                name="pickup_slot_available_le_capacity",
                violation_error_message="A pickup slot cannot have more places left than its capacity.",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="pickup_slot_ends_after_start",
                violation_error_message="A pickup slot must end after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(price_adjust_percent__gt=-100, price_adjust_percent__lte=100),
                name="pickup_slot_price_adjust_range",
                violation_error_message="The slot's price adjustment must be above −100 %% and at most +100 %%.",
            ),
            models.UniqueConstraint(
                fields=["popup", "starts_at"],
                name="pickup_slot_unique_start",
                violation_error_message="This pop-up already has a slot starting at that time.",
            ),
        ]
        indexes = [models.Index(fields=["popup", "starts_at"], name="pickup_slot_popup_start")]

    def __str__(self) -> str:
        local = timezone.localtime(self.starts_at, self.popup.tz)
        end = timezone.localtime(self.ends_at, self.popup.tz)
        return f"{self.popup.name} {local:%a %d %b %H:%M}–{end:%H:%M} {local:%Z}"

    @property
    def used(self) -> int:
        return self.capacity - self.available

    def local_starts_at(self):
        return timezone.localtime(self.starts_at, self.popup.tz)

    def local_ends_at(self):
        return timezone.localtime(self.ends_at, self.popup.tz)


class PickupBooking(models.Model):
    """The pickup pass of one order: its slot, check-in, reminder and messages.

    Created with the order from a hold placed with a slot; `slot` always equals
    the order's `hold.pickup_slot` (both move together on reschedule). The pass
    is valid while the order is awaiting payment or paid and the booking is not
    cancelled. `pass_version` goes up on every reschedule, which invalidates
    the QR codes issued before. Check-in is recorded once: the conditional
    UPDATE on `checked_in_at IS NULL` decides who wins.
    """

    # its page is the buyer's private link: never handed to staff or partners (commerce.staff_access.view_on_site)
    private_link = True

    order = models.OneToOneField("commerce.Order", on_delete=models.CASCADE, related_name="pickup_booking")
    slot = models.ForeignKey(PickupSlot, on_delete=models.PROTECT, related_name="bookings")
    pass_version = models.PositiveIntegerField(default=1)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="pickup_checkins"
    )
    checked_in_by_label = models.CharField(
        max_length=200, blank=True, help_text="Who checked in (staff or API partner)."
    )
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    no_show_messaged_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slot__starts_at", "pk"]
        verbose_name = "pickup booking"
        permissions = [
            ("checkin_pickupbooking", "Can check in pickups at the door (and take pay-at-pickup payments there)"),
            ("message_noshows_pickupbooking", "Can message a slot's no-shows"),
        ]
        indexes = [models.Index(fields=["slot", "checked_in_at"], name="pickup_booking_slot_checkin")]

    def __str__(self) -> str:
        return f"{self.order} @ {self.slot}"

    def get_absolute_url(self) -> str:
        return reverse("commerce:pickup_pass", kwargs={"token": self.order.token})
