"""The demo's bundle and trial SKU (seed_demo → commerce.memberships.demo_bundles): usable, and safe to re-run."""

from __future__ import annotations

import pytest

from commerce.memberships.demo_bundles import demo_bundles_seed
from commerce.models import Bundle, BundleSeat, Drop
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from sessions_app.models import LiveSession
from tests.factories import LiveSessionFactory, SkuFactory, make_drop

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_a_private_bundle_and_a_trial_drop_once():
    # given a live session and a catalogue
    for _ in range(3):
        SkuFactory()
    live = LiveSessionFactory()
    # when the demo seed runs twice
    lines = demo_bundles_seed(series=None, live=live)
    again = demo_bundles_seed(series=None, live=live)
    # then one bundle with 4 seats in a private session starting after the live one, and one trial drop
    bundle = Bundle.objects.get()
    private = LiveSession.objects.get(is_private=True)
    assert bundle.private_session == private and bundle.seat_cap == bundle.seats_available == 4
    assert private.starts_at > live.starts_at
    trial = Drop.objects.get(session=live, sku__trial_days=14)
    assert len(lines) == 2 and "Bundle" in lines[0] and "14-day" in lines[1] and lines == again
    # and the bundle is buyable end to end: the order's seat is confirmed
    order = checkout_start(hold_token=hold_place(drop_id=bundle.drop_id, email="d@example.com", quantity=1).token)
    assert BundleSeat.objects.get(order=order).status == BundleSeat.Status.CONFIRMED
    assert order.lines.get().title.endswith(private.title)
    assert trial.sku.trial_days == 14


def test_the_demo_trial_drop_sells_a_sku_no_other_demo_drop_sells():
    # given the catalogue SKUs the other demo drops use: the members-only session's exclusive
    # moon-charm-bracelet in another session, and the trial's preferred SKU
    exclusive = SkuFactory(code="moon-charm-bracelet-gold")
    preferred = SkuFactory(code="silver-threader-necklace-silver")
    SkuFactory()
    make_drop(sku=exclusive)
    live = LiveSessionFactory()
    # when the demo seeds the bundle and the trial
    demo_bundles_seed(series=None, live=live)
    # then the trial drop sells the silver threader necklace, not the exclusive SKU, and no other drop sells it
    trial = Drop.objects.get(session=live, sku__trial_days=14)
    assert trial.sku_id == preferred.pk != exclusive.pk
    assert Drop.objects.filter(sku_id=trial.sku_id).count() == 1
