"""Personal codes of watch-gated coupons (docs/watch-coupons.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class WatchCode(models.Model):
    """A viewer's personal code for a watch-gated coupon (the "programme", `coupon`).

    Issued once per (programme, visitor) when the server's evidence (sessions_app.watch) shows the
    visitor watched enough of `session` live. Bound to a customer once the visitor is identified (a
    hold placed from that browser, or the first checkout using the code) and usable by that customer
    only, once: `redeemed_at` + `order` are set in the order's transaction and cleared again when that
    order is cancelled. Expires at the session's end + the programme's `watch_grace_minutes`.
    """

    coupon = models.ForeignKey("commerce.Coupon", on_delete=models.PROTECT, related_name="watch_codes")
    code = models.CharField(max_length=40, unique=True, help_text="Personal code, stored upper-case.")
    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.PROTECT, related_name="watch_codes")
    visitor_id = models.CharField(max_length=64, help_text="The viewer's first-party visitor cookie (never shown).")
    customer = models.ForeignKey(
        "commerce.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="watch_codes"
    )
    watched_seconds = models.PositiveIntegerField(help_text="Seconds watched (server evidence) when issued.")
    issued_at = models.DateTimeField()
    bound_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        "commerce.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="watch_codes"
    )

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["coupon", "visitor_id"],
                name="watchcode_one_per_visitor",
                violation_error_message="This viewer already has a personal code for this coupon.",
            ),
            models.CheckConstraint(
                condition=Q(code=models.functions.Upper("code")),
                name="watchcode_code_upper",
                violation_error_message="Codes are stored in capitals.",
            ),
            models.CheckConstraint(
                condition=Q(redeemed_at__isnull=True, order__isnull=True)
                | Q(redeemed_at__isnull=False, order__isnull=False, customer__isnull=False),
                name="watchcode_redeemed_has_order",
                violation_error_message="A redeemed code names its order and customer.",
            ),
        ]
        indexes = [models.Index(fields=["visitor_id"], name="watchcode_visitor")]

    def __str__(self) -> str:
        return self.code
