from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class Coupon(models.Model):
    """A time-limited coupon code: percent or fixed amount off eligible order lines.

    Scope: all drops, or one session, one drop or one SKU (at most one set).
    Validity: [valid_from, valid_until) in UTC; staff enter it in the shop's
    timezone in the admin. Caps: `max_redemptions` in total (enforced by a
    conditional UPDATE on `redemptions`, backed by a CHECK constraint) and
    `per_customer_limit` per customer. Codes are case-insensitive: stored
    upper-case. A personal coupon (`customer` set) only works for that customer.

    Watch-gated (`watch_seconds_required` set, docs/watch-coupons.md): the coupon is a programme.
    Its own code is refused at checkout; each viewer who watched that many seconds of the live
    session (its session, or its drop's) claims a personal WatchCode, valid until the session's
    end + `watch_grace_minutes`; redemptions through personal codes count towards this coupon's caps.
    """

    class Kind(models.TextChoices):
        PERCENT = "percent", "Percent off"
        FIXED = "fixed", "Fixed amount off"

    code = models.CharField(max_length=40, unique=True, help_text="Case-insensitive; stored upper-case.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_off_minor = models.PositiveBigIntegerField(null=True, blank=True, help_text="Minor units, per line.")
    currency = models.CharField(max_length=3, blank=True, help_text="Required for fixed-amount coupons.")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    session = models.ForeignKey(
        "sessions_app.LiveSession", null=True, blank=True, on_delete=models.CASCADE, related_name="coupons"
    )
    drop = models.ForeignKey("commerce.Drop", null=True, blank=True, on_delete=models.CASCADE, related_name="coupons")
    sku = models.ForeignKey("commerce.Sku", null=True, blank=True, on_delete=models.CASCADE, related_name="coupons")
    customer = models.ForeignKey(
        "commerce.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="personal_coupons"
    )
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = unlimited.")
    per_customer_limit = models.PositiveIntegerField(default=1)
    redemptions = models.PositiveIntegerField(default=0, editable=False)
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    watch_seconds_required = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Watch-gated: seconds of the live session a viewer must watch to get a personal code. "
        "Empty = an ordinary coupon. Needs a session or drop scope.",
    )
    watch_grace_minutes = models.PositiveIntegerField(
        default=30, help_text="Watch-gated: personal codes expire this many minutes after the session ends."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(watch_seconds_required__isnull=True)
                | (
                    Q(watch_seconds_required__gt=0, customer__isnull=True)
                    & (Q(session__isnull=False) | Q(drop__isnull=False))
                ),
                name="coupon_watch_gate_scoped",
                violation_error_message="A watch-gated coupon needs more than 0 seconds, a session or drop scope, "
                "and no customer.",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(redemptions__lte=F("max_redemptions")),
                name="coupon_redemptions_within_cap",
                violation_error_message="The maximum number of redemptions cannot be lower than the redemptions already made.",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")),
                name="coupon_window_positive",
                violation_error_message="“Valid until” must be after “Valid from”.",
            ),
            models.CheckConstraint(
                condition=(Q(kind="percent", percent_off__gt=0, percent_off__lte=100))
                | Q(kind="fixed", amount_off_minor__gt=0),
                name="coupon_value_matches_kind",
                violation_error_message="A percent coupon needs a percentage above 0 and at most 100; a fixed coupon needs an amount above 0.",
            ),
            models.CheckConstraint(
                condition=Q(code=models.functions.Upper("code")),
                name="coupon_code_upper",
                violation_error_message="Coupon codes are stored in capitals.",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CouponRedemption(models.Model):
    """One use of a coupon by an order. Voided (and the cap given back) if the order never completes."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemption_rows")
    order = models.OneToOneField("commerce.Order", on_delete=models.CASCADE, related_name="coupon_redemption")
    customer = models.ForeignKey("commerce.Customer", on_delete=models.PROTECT, related_name="coupon_redemptions")
    discount_minor = models.PositiveBigIntegerField()
    watch_code = models.ForeignKey(
        "commerce.WatchCode",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="redemptions",
        help_text="The viewer's personal code, when redeemed through one (docs/watch-coupons.md).",
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.coupon} on {self.order}"
