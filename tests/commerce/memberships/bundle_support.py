"""Shared set-up for the community bundle tests: a bundle drop with `units` units and `seats` private seats."""

from __future__ import annotations

from commerce.memberships.services_bundles import bundle_create
from commerce.models import Bundle, BundleSeat, Drop
from tests.factories import LiveSessionFactory, make_drop


def bundle_drop(*, units: int = 5, seats: int = 3, per_customer_limit: int = 1, **kwargs) -> Bundle:
    """A live drop of `units` units paired with `seats` seats in a private micro-session."""
    private = LiveSessionFactory(is_private=True, status="scheduled", title="Maker Q&A")
    drop = make_drop(quantity=units, per_customer_limit=per_customer_limit, **kwargs)
    return bundle_create(drop_id=drop.pk, private_session_id=private.pk, seat_cap=seats)


def counters(bundle: Bundle) -> tuple[int, int]:
    """(units available on the drop, seats available on the bundle), read fresh."""
    return (
        Drop.objects.get(pk=bundle.drop_id).available,
        Bundle.objects.get(pk=bundle.pk).seats_available,
    )


def live_seats(bundle: Bundle) -> int:
    return BundleSeat.objects.filter(bundle=bundle).exclude(status=BundleSeat.Status.RELEASED).count()
