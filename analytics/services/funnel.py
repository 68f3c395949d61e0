"""The ordered funnel and its incremental rollups (docs/metrics.md §1).

Definition, written once (this docstring and metrics.md §1):

* An **actor** is a person: `c:<customer id>` once identified, else `v:<visitor id>`.
* A session's **attribution window** runs from `ANALYTICS_WINDOW_BEFORE` (default 1 hour)
  before the scheduled start to `ANALYTICS_WINDOW_AFTER` (default 7 days: manual payments
  happen at pickup) after the planned end (start + duration). Events outside it are kept raw
  but reach no funnel step.
* Steps are view → click → cart → checkout → purchase. An actor **reaches** a step at the first
  event of that step, inside the window, strictly after the event at which they reached the
  previous step, events ordered by (occurred_at, seq). The first step is the first view.
  Greedy earliest matching is exact for an ordered funnel: no later choice reaches further.
* Per drop (drop_id ≠ 0): the view step is any view of the session (its page shows every drop);
  click, cart, checkout and purchase count only with that drop_id.
* `visitors_<step>` = actors that reached the step. **Orders / revenue** = the actor's purchase
  events attributed to the session (or drop), deduplicated by order id, in the session's
  currency, whatever the funnel order and window (money paid is revenue).

Incremental maintenance: `events_flush` records each (session, actor) touched by new events in
`PendingActor`; `funnel_actors_recompute` recomputes those actors' rows from their raw events
and adds the difference to `FunnelRollup` under the session's rollup-row lock. The same code
rebuilds everything from raw events (`funnel_rebuild`), which is how tests prove incremental =
rebuilt.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ..models import FUNNEL_STEPS, Event, FunnelActor, FunnelRollup, PendingActor, VisitorAlias

CHUNK = 2000


def attribution_window(*, starts_at: dt.datetime, duration_seconds: int) -> tuple[dt.datetime, dt.datetime]:
    """(window start, window end) of a session, both aware UTC, inclusive."""
    before = dt.timedelta(seconds=getattr(settings, "ANALYTICS_WINDOW_BEFORE_SECONDS", 3600))
    after = dt.timedelta(seconds=getattr(settings, "ANALYTICS_WINDOW_AFTER_SECONDS", 7 * 86400))
    return starts_at - before, starts_at + dt.timedelta(seconds=duration_seconds) + after


def session_windows(session_ids: Iterable[int]) -> dict[int, tuple[dt.datetime, dt.datetime] | None]:
    """Attribution windows by session id; None for ids that are not (or no longer) sessions."""
    from sessions_app.models import LiveSession

    ids = set(session_ids)
    found = {
        pk: attribution_window(starts_at=start, duration_seconds=duration)
        for pk, start, duration in LiveSession.objects.filter(pk__in=ids).values_list(
            "pk", "starts_at", "duration_seconds"
        )
    }
    return {pk: found.get(pk) for pk in ids}


@dataclass
class FunnelRow:
    """One actor's funnel in one session (drop_id 0) or drop."""

    reached: dict[str, dt.datetime] = field(default_factory=dict)
    orders: dict = field(default_factory=dict)  # order key -> amount_minor
    currency: str = ""

    @property
    def purchases(self) -> int:
        return len(self.orders)

    @property
    def revenue_minor(self) -> int:
        return sum(self.orders.values())


def ordered_funnel(
    events: Iterable[tuple[str, dt.datetime, int]],
    *,
    steps: Sequence[str] = FUNNEL_STEPS,
    window: tuple[dt.datetime, dt.datetime] | None = None,
) -> dict[str, dt.datetime]:
    """Reach time of each step for one actor: {step: occurred_at} for the steps reached.

    `events` are (name, occurred_at, seq); they are sorted here by (occurred_at, seq). The rule
    is the module docstring's; `window` None means unbounded. Pure function, no database.
    """
    reached: dict[str, dt.datetime] = {}
    index = 0
    for name, at, _seq in sorted(events, key=lambda e: (e[1], e[2])):
        if index == len(steps):
            break
        if window is not None and not (window[0] <= at <= window[1]):
            continue
        if name == steps[index]:
            reached[steps[index]] = at
            index += 1
    return reached


def actor_rows(events: list[tuple], *, window, currency_hint: str = "") -> dict[int, FunnelRow]:
    """The actor's rows keyed by drop id (0 = whole session) from their events in one session.

    `events` are (name, occurred_at, seq, drop_id, order_id, amount_minor, currency).
    """
    events = sorted(events, key=lambda e: (e[1], e[2]))
    rows: dict[int, FunnelRow] = {}
    drops = {e[3] for e in events if e[3]}
    for drop in (0, *sorted(drops)):
        mine = events if drop == 0 else [e for e in events if e[0] == "view" or e[3] == drop]
        row = FunnelRow(reached=ordered_funnel(((e[0], e[1], e[2]) for e in mine), window=window))
        for name, _at, seq, _drop, order_id, amount, currency in mine:
            if name != "purchase":
                continue
            if currency:
                row.currency = row.currency or currency_hint or currency
                if currency != row.currency:
                    continue  # a session sells in one currency (metrics.md §1)
            row.orders[order_id if order_id is not None else f"seq:{seq}"] = amount or 0
        if row.reached or row.orders:
            rows[drop] = row
    return rows


def _rollup_lock(session_id: int) -> FunnelRollup:
    """The session's rollup row, locked: serializes rollup work per session."""
    FunnelRollup.objects.get_or_create(session_id=session_id, drop_id=0)
    return FunnelRollup.objects.select_for_update().get(session_id=session_id, drop_id=0)


def _contrib(row) -> dict[str, int]:
    if row is None:
        return dict.fromkeys(("view", "click", "cart", "checkout", "purchase", "orders", "revenue"), 0)
    if isinstance(row, FunnelActor):
        out = {step: int(getattr(row, f"{step}_at") is not None) for step in FUNNEL_STEPS}
        out["orders"], out["revenue"] = row.purchases, row.revenue_minor
        return out
    out = {step: int(step in row.reached) for step in FUNNEL_STEPS}
    out["orders"], out["revenue"] = row.purchases, row.revenue_minor
    return out


def _actor_in(qs, actors: Sequence[str]):
    """qs filtered to these actors: one array parameter on PostgreSQL (thousands of IN
    placeholders cost more to build than the query takes to run)."""
    if connection.vendor == "postgresql":
        return qs.extra(where=['"actor" = ANY(%s)'], params=[list(actors)])  # noqa: S610 - a bound parameter
    return qs.filter(actor__in=list(actors))


def _merge_late_aliases(session_id: int, actors: list[str]) -> list[str]:
    """Move events of visitors identified after their events were flushed to the customer.

    A flush racing the one that identified the visitor may still write `v:<visitor>`; the
    recompute of that actor heals it here. Returns the actors to recompute (with the customers).
    """
    visitors = [a[2:] for a in actors if a.startswith("v:")]
    if not visitors:
        return actors
    extra = []
    for visitor, customer in VisitorAlias.objects.filter(visitor_id__in=visitors).values_list(
        "visitor_id", "customer_id"
    ):
        Event.objects.filter(session_id=session_id, visitor_id=visitor, actor=f"v:{visitor}").update(
            actor=f"c:{customer}"
        )
        extra.append(f"c:{customer}")
    return list(dict.fromkeys([*actors, *extra]))


def funnel_actors_recompute(*, session_id: int, actors: Sequence[str], now: dt.datetime | None = None) -> int:
    """Recompute the FunnelActor rows of `actors` in one session and apply the deltas.

    Runs in one transaction holding the session's rollup-row lock. Returns the number of
    actors recomputed. A session that no longer exists has its rows removed.
    """
    now = now or timezone.now()
    window = session_windows([session_id])[session_id]
    if window is None:  # not a session (a forged beacon id) or deleted: nothing to count
        with transaction.atomic():
            FunnelActor.objects.filter(session_id=session_id).delete()
            FunnelRollup.objects.filter(session_id=session_id).delete()
        return len(actors)
    with transaction.atomic():
        head = _rollup_lock(session_id)
        actors = _merge_late_aliases(session_id, list(dict.fromkeys(actors)))
        by_actor: dict[str, list[tuple]] = defaultdict(list)
        if window is not None:
            qs = (
                _actor_in(Event.objects.filter(session_id=session_id), actors)
                .order_by()
                .values_list("actor", "name", "occurred_at", "seq", "drop_id", "order_id", "amount_minor", "currency")
            )
            for actor, *rest in qs.iterator(chunk_size=10000):
                by_actor[actor].append(tuple(rest))
        old = {
            (fa.actor, fa.drop_id): fa for fa in _actor_in(FunnelActor.objects.filter(session_id=session_id), actors)
        }
        new: dict[tuple[str, int], FunnelRow] = {}
        currency = head.currency
        for actor in actors:
            for drop, row in actor_rows(by_actor.get(actor, []), window=window, currency_hint=currency).items():
                currency = currency or row.currency
                new[(actor, drop)] = row
        deltas: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for key in set(old) | set(new):
            before, after = _contrib(old.get(key)), _contrib(new.get(key))
            for metric in before:
                if after[metric] != before[metric]:
                    deltas[key[1]][metric] += after[metric] - before[metric]
        _actor_in(FunnelActor.objects.filter(session_id=session_id), actors).delete()
        _funnel_actors_write(session_id, new)
        for drop in sorted(deltas):
            delta = deltas[drop]
            if drop != 0:
                FunnelRollup.objects.get_or_create(session_id=session_id, drop_id=drop)
            FunnelRollup.objects.filter(session_id=session_id, drop_id=drop).update(
                visitors_view=F("visitors_view") + delta["view"],
                visitors_click=F("visitors_click") + delta["click"],
                visitors_cart=F("visitors_cart") + delta["cart"],
                visitors_checkout=F("visitors_checkout") + delta["checkout"],
                visitors_purchase=F("visitors_purchase") + delta["purchase"],
                orders=F("orders") + delta["orders"],
                revenue_minor=F("revenue_minor") + delta["revenue"],
                updated_at=now,
            )
        if currency and not head.currency:
            FunnelRollup.objects.filter(session_id=session_id, currency="").update(currency=currency)
        FunnelRollup.objects.filter(session_id=session_id, drop_id=0).update(updated_at=now)
    return len(actors)


ACTOR_COLUMNS = (
    "session_id",
    "drop_id",
    "actor",
    *(f"{step}_at" for step in FUNNEL_STEPS),
    "purchases",
    "revenue_minor",
    "currency",
)


def _funnel_actors_write(session_id: int, rows: dict[tuple[str, int], FunnelRow]) -> None:
    """Insert the recomputed rows (COPY on PostgreSQL: the ORM's per-field work dominated)."""
    values = [
        (
            session_id,
            drop,
            actor,
            *(row.reached.get(step) for step in FUNNEL_STEPS),
            row.purchases,
            row.revenue_minor,
            row.currency,
        )
        for (actor, drop), row in rows.items()
    ]
    if connection.vendor == "postgresql":
        sql = f"COPY {FunnelActor._meta.db_table} ({', '.join(ACTOR_COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for value in values:
                copy.write_row(value)
        return
    FunnelActor.objects.bulk_create(
        [FunnelActor(**dict(zip(ACTOR_COLUMNS, v, strict=True))) for v in values], batch_size=2000
    )


def pending_actors_process(*, limit: int = 20000, now: dt.datetime | None = None) -> int:
    """Drain up to `limit` PendingActor rows: recompute those actors, delete the rows.

    Each chunk is claimed with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, so several
    workers can drain in parallel; recompute and delete commit together. Returns actors done.
    """
    done = 0
    while done < limit:
        with transaction.atomic():
            qs = PendingActor.objects.order_by("session_id", "actor")
            if connection.vendor == "postgresql":
                qs = qs.select_for_update(skip_locked=True)
            claimed = list(qs.values_list("pk", "session_id", "actor")[: min(CHUNK, limit - done)])
            if not claimed:
                break
            by_session: dict[int, list[str]] = defaultdict(list)
            for _pk, session_id, actor in claimed:
                by_session[session_id].append(actor)
            for session_id in sorted(by_session):
                funnel_actors_recompute(session_id=session_id, actors=by_session[session_id], now=now)
            PendingActor.objects.filter(pk__in=[pk for pk, *_ in claimed]).delete()
            done += len(claimed)
    return done


def funnel_rebuild(*, session_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Rebuild FunnelActor/FunnelRollup from raw events (one session, or all). Returns actors."""
    sessions = (
        [session_id]
        if session_id is not None
        else list(Event.objects.exclude(session_id=None).order_by().values_list("session_id", flat=True).distinct())
    )
    total = 0
    for sid in sessions:
        with transaction.atomic():
            FunnelActor.objects.filter(session_id=sid).delete()
            FunnelRollup.objects.filter(session_id=sid).delete()
            actors = list(Event.objects.filter(session_id=sid).order_by().values_list("actor", flat=True).distinct())
            for start in range(0, len(actors), CHUNK):
                total += funnel_actors_recompute(session_id=sid, actors=actors[start : start + CHUNK], now=now)
    return total
