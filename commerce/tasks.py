"""django-q2 task functions: take ids, call a service."""

from __future__ import annotations

import logging
from email.mime.image import MIMEImage

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Order, PickupBooking
from .payments import get_provider
from .services import payments as payment_services
from .services.holds import holds_release_lapsed
from .services.pickup import pickup_pass_token, pickup_reminders_send
from .services.refunds import refund_submit
from .services.refunds import refunds_reconcile as refunds_reconcile_service

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
    if kind == "confirmed":
        for booking_id in PickupBooking.objects.filter(order_id=order_id).values_list("pk", flat=True):
            send_pickup_email(booking_id, "pass")


def refund_submit_task(refund_id: int) -> None:
    """Submit one refund (safe to repeat); raises ProviderUnavailable if the provider did not answer."""
    refund_submit(refund_id=refund_id)


def refunds_reconcile() -> dict[str, int]:
    """Every 5 minutes: settle refunds pending longer than REFUND_RECONCILE_AFTER_MINUTES with the provider."""
    return refunds_reconcile_service()


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


PICKUP_EMAILS = {
    "pass": "Your pickup pass for {popup} ({number})",
    "rescheduled": "Your new pickup time at {popup} ({number})",
    "reminder": "Reminder: pickup at {popup} at {time}",
    "no_show": "We missed you at {popup} ({number})",
}


def send_pickup_email(booking_id: int, kind: str, message: str = "") -> None:
    """Send one pickup e-mail (`kind` in PICKUP_EMAILS). Passes carry the QR code (inline PNG) and an .ics entry."""
    from .pickup_documents import pass_qr_png, slot_ics
    from .selectors_pickup import slot_label

    booking = PickupBooking.objects.select_related("order__customer", "slot__popup").get(pk=booking_id)
    order, slot = booking.order, booking.slot
    pass_url = settings.SITE_URL + reverse("commerce:pickup_pass", kwargs={"token": order.token})
    local = slot.local_starts_at()
    context = {
        "booking": booking,
        "order": order,
        "slot": slot,
        "popup": slot.popup,
        "slot_label": slot_label(slot),
        "pass_url": pass_url,
        "message": message,
        "site_url": settings.SITE_URL,
    }
    subject = PICKUP_EMAILS[kind].format(popup=slot.popup.name, number=order.number, time=f"{local:%H:%M %Z}")
    body = render_to_string(f"commerce/pickup/email/{kind}.txt", context)
    email = EmailMultiAlternatives(subject, body, None, [order.customer.email])
    if kind in ("pass", "rescheduled", "reminder"):
        token = pickup_pass_token(booking)
        email.attach_alternative(render_to_string("commerce/pickup/email/pass.html", context), "text/html")
        image = MIMEImage(pass_qr_png(token), "png")
        image.add_header("Content-ID", "<pickup-qr>")
        image.add_header("Content-Disposition", "inline", filename="pickup-pass.png")
        email.attach(image)
        email.attach(f"pickup-{order.number}.ics", slot_ics(booking, pass_url=pass_url), "text/calendar")
    email.send()


def pickup_reminders() -> int:
    """Every 5 minutes: queue pickup reminders that are due (each booking once)."""
    return pickup_reminders_send()
