"""Reads for community bundles and refundable trials (docs/bundles.md, docs/trials.md)."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from ..models import Bundle, BundleSeat, Order, TrialReturn
from ..selectors import session_selling_q
from .services_trials import trial_line_state, trial_window_ends_at


def seat_for_join(*, token: str) -> BundleSeat | None:
    """The confirmed seat behind a personal join link, with its private session; None for anything else
    (unknown token, seat held but unpaid, released by a cancel or refund)."""
    return (
        BundleSeat.objects.select_related("bundle__private_session__format", "order")
        .filter(join_token=token, status=BundleSeat.Status.CONFIRMED)
        .first()
    )


def order_seats(*, order: Order) -> list[BundleSeat]:
    """The order's confirmed seats (their join links go on the order page and in the confirmation e-mail)."""
    return list(
        order.bundle_seats.filter(status=BundleSeat.Status.CONFIRMED)
        .select_related("bundle__private_session")
        .order_by("pk")
    )


def bundles_on_sale(*, now: dt.datetime) -> QuerySet[Bundle]:
    """Bundles whose drop sells at `now` (window open, session selling) with units and seats left, soonest
    closing first. Private sessions' stream URLs are not part of this read's use (catalogue only)."""
    return (
        Bundle.objects.filter(seats_available__gt=0, drop__available__gt=0)
        .filter(drop__opens_at__lte=now, drop__closes_at__gt=now)
        .filter(session_selling_q(now=now, prefix="drop__session__"))
        .select_related("drop__sku__product", "drop__session", "private_session")
        .order_by("drop__closes_at", "pk")
    )


def order_trial_lines(*, order: Order, now: dt.datetime) -> list[dict]:
    """Each trial line of the order as {"line", "state", "window_ends_at"}; state as trial_line_state says."""
    rows = []
    for line in order.lines.filter(trial_days__isnull=False).select_related("trial_return").order_by("pk"):
        rows.append(
            {
                "line": line,
                "state": trial_line_state(line=line, order=order, now=now),
                "window_ends_at": trial_window_ends_at(line=line, order=order),
            }
        )
    return rows


def trial_returns_for_orders(orders: QuerySet[Order]) -> QuerySet[TrialReturn]:
    """Trial returns of these orders (a partner's own, filtered by the caller), newest first."""
    return TrialReturn.objects.filter(order__in=orders).select_related("order", "order_line", "refund")


__all__ = ["bundles_on_sale", "order_seats", "order_trial_lines", "seat_for_join", "trial_returns_for_orders"]


def order_bundle_context(*, order: Order, now: dt.datetime) -> dict:
    """What the order page adds: {"seats": confirmed seats (join links), "trial_lines": order_trial_lines}."""
    return {"seats": order_seats(order=order), "trial_lines": order_trial_lines(order=order, now=now)}
