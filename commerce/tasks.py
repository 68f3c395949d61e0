"""django-q2 task functions: take ids, call a service. Outbox senders take one `Delivery`.

Side effects are not queued as tasks any more: they are outbox rows
(commerce.services.outbox) and `outbox_drain` is the only task that performs them,
kicked after each commit and swept every minute, so a task lost with a killed
worker or a Redis broker loses nothing.
"""

from __future__ import annotations

import logging
from email.mime.image import MIMEImage

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Order, PickupBooking
from .payments import get_provider
from .services import outbox
from .services import payments as payment_services
from .services.holds import holds_release_lapsed
from .services.pickup import pickup_pass_token, pickup_reminders_send
from .services.refunds import refund_submit
from .services.refunds import refunds_reconcile as refunds_reconcile_service
from .shipping import order_fulfilment

logger = logging.getLogger(__name__)

EMAILS = {
    "confirmed": ("Your order {number} is confirmed", "commerce/email/order_confirmed.txt"),
    "late_refund": ("Your order {number} was refunded", "commerce/email/late_refund.txt"),
    "receipt": ("Your receipt for order {number}", "commerce/email/receipt.txt"),
    "credit_note": ("Your refund on order {number}: credit note", "commerce/email/credit_note.txt"),
}


def outbox_drain() -> dict:
    """Kicked after every commit that wrote outbox rows, and every minute by the sweep schedule.

    Sends due rows until none is left or its time budget is used, then queues its
    successor if rows may remain. Returns counts for the task's result.
    """
    result = outbox.outbox_drain()
    if result.more:
        outbox.outbox_kick()
    return {"sent": result.sent, "retried": result.retried, "failed": result.failed, "more": result.more}


def order_email_send(delivery: outbox.Delivery) -> None:
    """Outbox sender: one buyer e-mail (`kind` in EMAILS) for an order.

    The order's receipt PDF (if it has one) rides on the confirmation, receipt and late-refund
    e-mails; a credit note e-mail (payload `credit_note_id`) carries that credit note's PDF.
    """
    from .models import CreditNote, Receipt
    from .receipt_pdf import credit_note_pdf, receipt_filename, receipt_pdf

    order = Order.objects.select_related("customer").prefetch_related("lines").get(pk=delivery.payload["order_id"])
    kind = delivery.payload["kind"]
    subject, template = EMAILS[kind]
    document = None
    if kind == "credit_note":
        document = CreditNote.objects.get(pk=delivery.payload["credit_note_id"], order=order)
    elif order.status in (Order.Status.PAID, Order.Status.REFUNDED):
        document = Receipt.objects.filter(order=order).first()
    context = {
        "order": order,
        "site_url": settings.SITE_URL,
        "document": document,
        "fulfilment": order_fulfilment(order),
    }
    body = render_to_string(template, context)
    email = EmailMessage(
        subject.format(number=order.number), body, None, [order.customer.email], headers=delivery.email_headers
    )
    if document is not None:
        pdf = credit_note_pdf(document) if kind == "credit_note" else receipt_pdf(document)
        email.attach(receipt_filename(document.number), pdf, "application/pdf")
    email.send()


def refund_submit_send(delivery: outbox.Delivery) -> None:
    """Outbox sender: submit a refund (idempotent: Stripe idempotency key, pending-only apply)."""
    refund_submit(refund_id=delivery.payload["refund_id"])


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


def pickup_email_send(delivery: outbox.Delivery) -> None:
    """Outbox sender: one pickup e-mail (`kind` in PICKUP_EMAILS). Passes carry the QR code (inline PNG)
    and an .ics entry; the pass is rendered at send time, so a re-send shows the booking as it is now."""
    from .pickup_documents import pass_qr_png, slot_ics
    from .selectors_pickup import slot_label

    kind, message = delivery.payload["kind"], delivery.payload.get("message", "")
    booking = PickupBooking.objects.select_related("order__customer", "slot__popup").get(
        pk=delivery.payload["booking_id"]
    )
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
    email = EmailMultiAlternatives(subject, body, None, [order.customer.email], headers=delivery.email_headers)
    if kind in ("pass", "rescheduled", "reminder"):
        token = pickup_pass_token(booking)
        email.attach_alternative(render_to_string("commerce/pickup/email/pass.html", context), "text/html")
        image = MIMEImage(pass_qr_png(token), "png")
        image.add_header("Content-ID", "<pickup-qr>")
        image.add_header("Content-Disposition", "inline", filename="pickup-pass.png")
        email.attach(image)
        email.attach(f"pickup-{order.number}.ics", slot_ics(booking, pass_url=pass_url), "text/calendar")
    email.send()


def product_image_process(image_id: int) -> str:
    """Fetch (catalog URL) and thumbnail one product image; idempotent (services.product_images)."""
    from .services.product_images import product_image_process as process

    return process(image_id=image_id)


def pickup_reminders() -> int:
    """Every 5 minutes: write pickup reminders that are due to the outbox (each booking once per pass)."""
    return pickup_reminders_send()
