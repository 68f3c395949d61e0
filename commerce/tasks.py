"""django-q2 task functions: take ids, call a service."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .models import Order
from .payments import get_provider
from .services import payments as payment_services
from .services.holds import holds_release_lapsed
from .services.refunds import refund_submit

logger = logging.getLogger(__name__)

EMAILS = {
    "confirmed": ("Your order {number} is confirmed", "commerce/email/order_confirmed.txt"),
    "late_refund": ("Your order {number} was refunded", "commerce/email/late_refund.txt"),
}


def send_order_email(order_id: int, kind: str) -> None:
    """Send one buyer e-mail (`kind` in EMAILS) for an order."""
    order = Order.objects.select_related("customer").prefetch_related("lines").get(pk=order_id)
    subject, template = EMAILS[kind]
    body = render_to_string(template, {"order": order, "site_url": settings.SITE_URL})
    send_mail(subject.format(number=order.number), body, None, [order.customer.email])


def refund_submit_task(refund_id: int) -> None:
    refund_submit(refund_id=refund_id)


def holds_expire() -> int:
    """Every minute: release lapsed holds and expire the hosted checkouts of their pending orders."""
    freed = holds_release_lapsed()
    for order_id in payment_services.pending_checkouts_with_lapsed_holds():
        checkout_cancel(order_id)
    return freed


def checkout_cancel(order_id: int) -> None:
    """Expire a pending order's hosted checkout; if that worked, cancel the order."""
    order = Order.objects.get(pk=order_id)
    provider = get_provider(order.payment_provider)
    try:
        cancelled = provider.cancel(order=order)
    except Exception:
        logger.exception("could not expire checkout for %s; retried next minute", order.number)
        return
    if cancelled:
        payment_services.checkout_expire(provider=order.payment_provider, reference=order.payment_reference)
