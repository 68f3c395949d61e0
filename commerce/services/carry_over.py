"""Stock carry-over: a drop's unsold units move into the same SKU's drop of the series' next session.

When it runs (docs/waitlist.md, "Stock carry-over"):
- in `session_end`'s own transaction for every drop with `carry_over=True` (the end and the move
  commit together, so a killed worker leaves neither: the end is simply run again);
- every minute (`stock_carry_over_sweep`, a django-q2 schedule) for drops of sessions that ended,
  which picks up units returned AFTER the move by late holds or offers lapsing on the ended drop;
- from the Drop admin action and the API (`shop` scope).

Atomic: the next session's row is locked FOR NO KEY UPDATE (an End/Cancel of it waits), then both
drop rows FOR UPDATE in primary-key order; the source's lapsed holds are expired in the same
transaction (SKIP LOCKED: a hold a sweep is expiring right now is left to that sweep, whose units
then come back to the source and move with the next run); then source `quantity -= n,
available -= n`, target `quantity += n, available += n`, and a StockTransfer row. Active holds and
open offers stay on the source (they may still check out); nothing is counted twice or lost.
A sharded source (stock_shards > 1) first gathers its units from its shard rows onto its own row,
under the locks of those rows (commerce.locks.drop_consolidate_stock); the target receives them on
its own row (shard 0), like any give-back.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import locks
from ..audit import audit_change
from ..exceptions import CommerceError
from ..models import Drop, Hold, StockTransfer
from .waitlist import waitlist_offer_freed

SWEEP_DAYS = 7  # the schedule looks at sessions that ended within this many days


class CarryOverError(CommerceError):
    """Nothing can move (see `code`): session_not_ended, no_next_session."""

    status = 409


def next_session_for(drop: Drop):
    """The next scheduled session of the drop's series after the drop's session (None if none)."""
    from sessions_app.models import LiveSession

    session = drop.session
    if not session.series_id:
        return None
    return (
        LiveSession.objects.filter(
            series_id=session.series_id, status=LiveSession.Status.SCHEDULED, starts_at__gt=session.starts_at
        )
        .order_by("starts_at", "pk")
        .first()
    )


def _target_drop(source: Drop, session) -> Drop:
    """The same SKU's drop in `session` (the oldest), created with the source's terms if missing:
    0 units, window = the session's planned start → end."""
    target = Drop.objects.filter(session=session, sku_id=source.sku_id).order_by("pk").first()
    if target is not None:
        return target
    return Drop.objects.create(
        session=session,
        sku_id=source.sku_id,
        title=source.title,
        quantity=0,
        available=0,
        price_minor=source.price_minor,
        currency=source.currency,
        opens_at=session.starts_at,
        closes_at=session.ends_at,
        per_customer_limit=source.per_customer_limit,
        hold_seconds=source.hold_seconds,
        pricing=source.pricing,
        step_percent=source.step_percent,
        step_seconds=source.step_seconds,
        floor_price_minor=source.floor_price_minor,
        step_up_tiers=source.step_up_tiers,
        fulfilment=source.fulfilment,
        popup_id=source.popup_id,
        carry_over=source.carry_over,
    )


def stock_carry_over(*, drop_id: int, now: dt.datetime | None = None, actor: str = "") -> StockTransfer | None:
    """Move a drop's unsold units into the same SKU's drop of the series' next scheduled session.

    `drop_id`: a drop whose session has ended. Returns the StockTransfer (units moved, both drops),
    or None when no unit is unsold (its lapsed holds released first). Runs in its own transaction,
    or in the caller's (session_end). Raises CarryOverError code session_not_ended (409) or
    no_next_session (409: the series has no scheduled session after this one, or the session has
    no series; nothing moves), Drop.DoesNotExist.
    """
    from sessions_app.models import LiveSession

    from .holds import SWEEP_BATCH, _expire

    now = now or timezone.now()
    with transaction.atomic():
        source = Drop.objects.select_related("session").get(pk=drop_id)
        if source.session.status != LiveSession.Status.ENDED:
            raise CarryOverError("Unsold stock moves on only once the session has ended.", code="session_not_ended")
        session = next_session_for(source)
        if session is not None:  # an End/Cancel of the next session waits for this move (or happened before)
            session = (
                LiveSession.objects.select_for_update(no_key=True)
                .filter(pk=session.pk, status=LiveSession.Status.SCHEDULED)
                .first()
            )
        if session is None:
            raise CarryOverError(
                "No scheduled session follows this one in its series: the unsold units stay on this drop.",
                code="no_next_session",
            )
        existing = Drop.objects.filter(session=session, sku_id=source.sku_id).order_by("pk").first()
        locked = [source.pk] + ([existing.pk] if existing is not None else [])
        rows = {d.pk: d for d in Drop.objects.select_for_update().filter(pk__in=locked).order_by("pk")}
        lapsed = list(
            Hold.objects.filter(drop_id=source.pk, status=Hold.Status.ACTIVE, expires_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", "drop_id", "quantity")[:SWEEP_BATCH]
        )
        _expire(lapsed, now)  # their units come back to the source (no offers: its session ended)
        source = Drop.objects.get(pk=source.pk)
        units = source.total_available
        if units > source.available:  # a sharded drop: gather its units on its own row (under its locks)
            locks.drop_consolidate_stock(drop_id=source.pk, quantity=units)
            source.refresh_from_db(fields=["available"])
        if units <= 0:
            return None  # nothing to move: no empty drop is created in the next session (QA)
        target = existing if existing is not None else _target_drop(source, session)
        rows.setdefault(target.pk, target)  # a new drop: created here, with 0 units, seen by nobody yet
        moved = Drop.objects.filter(pk=source.pk, available__gte=units).update(
            quantity=F("quantity") - units, available=F("available") - units
        )
        if not moved:  # cannot happen under the row lock; refuse rather than double count
            raise RuntimeError(f"drop {source.pk} changed under its row lock")
        Drop.objects.filter(pk=target.pk).update(quantity=F("quantity") + units, available=F("available") + units)
        transfer = StockTransfer.objects.create(
            from_drop=source, to_drop=target, units=units, at=now, actor=actor[:150] or "system"
        )
        before_target = rows[target.pk].quantity
        audit_change(source, {"quantity": (source.quantity, source.quantity - units)})
        audit_change(target, {"quantity": (before_target, before_target + units)})
        waitlist_offer_freed(drop_id=target.pk, now=now)
    return transfer


def stock_carry_over_session(*, session_id: int, now: dt.datetime, actor: str = "session end") -> list[StockTransfer]:
    """Carry over every `carry_over=True` drop of an ended session, in the caller's transaction
    (sessions_app.services.session_end). A session without a next one moves nothing (no error)."""
    transfers = []
    for drop_id in (
        Drop.objects.filter(session_id=session_id, carry_over=True).order_by("pk").values_list("pk", flat=True)
    ):
        try:
            with transaction.atomic():  # savepoint: one drop's refusal leaves the others and the end intact
                transfer = stock_carry_over(drop_id=drop_id, now=now, actor=actor)
        except CarryOverError:
            continue
        if transfer is not None:
            transfers.append(transfer)
    return transfers


def stock_carry_over_sweep(*, now: dt.datetime | None = None) -> int:
    """The per-minute schedule: move units that came back to carry-over drops of recently ended
    sessions (late holds or offers lapsing after the move). Returns units moved."""
    now = now or timezone.now()
    drop_ids = Drop.objects.filter(
        carry_over=True,
        session__status="ended",
        session__ended_at__gte=now - dt.timedelta(days=SWEEP_DAYS),
    )
    drop_ids = (
        drop_ids.filter(available__gt=0)
        | drop_ids.filter(stock_shard_rows__available__gt=0)
        | drop_ids.filter(holds__status=Hold.Status.ACTIVE, holds__expires_at__lte=now)
    )
    moved = 0
    for drop_id in sorted(set(drop_ids.values_list("pk", flat=True))):
        try:
            transfer = stock_carry_over(drop_id=drop_id, now=now, actor="schedule")
        except CarryOverError:
            continue
        moved += transfer.units if transfer else 0
    return moved
