"""Waitlist offers and carried-over stock under real concurrency: threads on their own PostgreSQL connections.

(1) Holds lapse from many threads at once (sweeps, the hold path's own release, explicit releases)
while public buyers race for the same units: every freed unit becomes exactly one offer to the
first people in line (FIFO), nobody in line gets two, the public gets nothing, the stock adds up;
then the offers lapse from several sweeping threads and pass on to the next people exactly once.
(2) Carry-over raced against lapsing holds: source.sold + target gains + still-held == original.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from commerce.exceptions import CommerceError, DropUnavailable
from commerce.models import Drop, Hold, StockTransfer, WaitlistEntry, WaitlistOffer
from commerce.services.carry_over import CarryOverError, stock_carry_over, stock_carry_over_sweep
from commerce.services.holds import hold_place, hold_release, holds_release_lapsed
from commerce.services.waitlist import (
    OfferGone,
    waitlist_offer_claim,
    waitlist_offer_lapse_if_due,
    waitlist_offers_expire,
)
from sessions_app.services import session_end
from tests.commerce.test_races import race
from tests.commerce.waitlist_support import assert_stock_adds_up, lapse, line_up, series_with_sessions, sold_out_drop
from tests.factories import make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_lapsing_holds_raced_by_public_buyers_become_exactly_one_offer_per_freed_unit_fifo():
    # given 20 units all held, and 30 people waiting for one unit each
    units, waiting = 20, 30
    drop, holds = sold_out_drop(quantity=units)
    entries = line_up(drop, waiting)
    lapse(holds)  # every hold is past its time; no sweep has run
    later = timezone.now()

    # when sweeps, explicit releases and public buyers (whose refusal path releases lapsed holds too) race
    def act(i):
        kind = i % 4
        if kind == 0:
            return holds_release_lapsed(drop_id=drop.pk, now=later)
        if kind == 1:
            return hold_release(hold_id=holds[i % units].pk, now=later)
        return hold_place(drop_id=drop.pk, email=f"public{i}@example.com", quantity=1)

    results = race(48, act)

    # then the public got nothing: every freed unit was promised to the line
    public = [r for i, r in enumerate(results) if i % 4 >= 2]
    assert all(isinstance(r, DropUnavailable) for r in public), public  # nobody from the public got a unit
    assert not Hold.objects.filter(drop=drop, customer__email__startswith="public").exists()
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, DropUnavailable)], results
    # exactly min(waiting, freed) offers, one per entry, to the first `units` people in line
    offers = WaitlistOffer.objects.filter(drop=drop)
    assert offers.count() == min(waiting, units)
    assert offers.values("entry").annotate(n=Count("pk")).filter(n__gt=1).count() == 0
    assert set(offers.values_list("entry_id", flat=True)) == {e.pk for e in entries[:units]}
    s = assert_stock_adds_up(drop.pk)
    assert (s["offered"], s["available"], s["held"]) == (units, 0, 0)

    # when the offers lapse while several sweepers and readers race to lapse them
    after = timezone.now() + dt.timedelta(minutes=11)
    tokens = list(offers.values_list("token", flat=True))

    def expire(i):
        if i % 2:
            return waitlist_offers_expire(now=after)
        return waitlist_offer_lapse_if_due(token=tokens[i % len(tokens)], now=after).status

    race(24, expire)
    # then each lapsed offer passed on exactly once: the 10 still waiting got one offer each, 10 units are back
    passed = WaitlistOffer.objects.filter(drop=drop, status="open")
    assert set(passed.values_list("entry_id", flat=True)) == {e.pk for e in entries[units:]}
    assert WaitlistOffer.objects.filter(drop=drop, status="expired").count() == units
    assert WaitlistOffer.objects.filter(drop=drop).count() == units + (waiting - units)
    assert WaitlistEntry.objects.filter(drop=drop, status="lapsed").count() == units
    s = assert_stock_adds_up(drop.pk)
    assert (s["offered"], s["available"]) == (waiting - units, units - (waiting - units))


def test_many_clicks_on_one_offer_make_one_hold():
    drop, holds = sold_out_drop(quantity=3)
    line_up(drop, 1)
    hold_release(hold_id=holds[0].pk)
    offer = WaitlistOffer.objects.get()
    results = race(12, lambda i: waitlist_offer_claim(token=offer.token))
    made = [r for r in results if isinstance(r, Hold)]
    assert len(made) == 1
    assert all(isinstance(r, OfferGone) and r.code == "offer_claimed" for r in results if not isinstance(r, Hold))
    s = assert_stock_adds_up(drop.pk)
    assert (s["held"], s["offered"], s["available"]) == (3, 0, 0)


def test_carry_over_raced_against_lapsing_holds_counts_every_unit_once():
    # given a carry-over drop of 45: 10 sold, 20 held but lapsed, 5 held and live, 10 unsold
    _, live, nxt = series_with_sessions(slug="race-carry")
    drop = make_drop(session=live, quantity=45, carry_over=True, per_customer_limit=5)
    sold = [hold_place(drop_id=drop.pk, email=f"sold{i}@example.com", quantity=1) for i in range(10)]
    Hold.objects.filter(pk__in=[h.pk for h in sold]).update(status=Hold.Status.CONVERTED)
    lapsing = [hold_place(drop_id=drop.pk, email=f"lapse{i}@example.com", quantity=1) for i in range(20)]
    live_holds = [hold_place(drop_id=drop.pk, email=f"live{i}@example.com", quantity=1) for i in range(5)]
    lapse(lapsing)
    later = timezone.now()

    # when the session ends (moving stock in its transaction) while sweeps, releases and repeat
    # carry-overs race
    def act(i):
        if i == 0:
            return session_end(session_id=live.pk, now=later)
        if i % 3 == 0:
            try:
                return stock_carry_over(drop_id=drop.pk, now=later, actor="race")
            except CarryOverError as exc:  # before session_end committed
                return exc
        if i % 3 == 1:
            return holds_release_lapsed(drop_id=drop.pk, now=later)
        return hold_release(hold_id=lapsing[i % len(lapsing)].pk, now=later)

    results = race(30, act)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, CommerceError)], results
    stock_carry_over_sweep(now=later + dt.timedelta(seconds=1))  # the per-minute schedule catches up

    # then nothing was counted twice or lost
    source, target = Drop.objects.get(pk=drop.pk), Drop.objects.get(session=nxt)
    moved = StockTransfer.objects.filter(from_drop=drop).aggregate(n=Sum("units"))["n"]
    still_held = Hold.objects.filter(drop=drop, status="active").aggregate(n=Sum("quantity"))["n"] or 0
    sold_units = Hold.objects.filter(drop=drop, status="converted").count()
    assert (sold_units, still_held) == (10, 5)
    assert moved == target.quantity == target.available == 30
    assert source.available == 0
    assert source.quantity == sold_units + still_held == 15
    assert source.quantity + target.quantity == 45
    assert Hold.objects.filter(pk__in=[h.pk for h in live_holds], status="active").count() == 5
