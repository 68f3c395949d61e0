"""Factories for the main flow: a live session with an open drop on a real catalog SKU."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from commerce.models import Product, Sku
from commerce.services.drops import drop_create
from sessions_app.models import LiveSession, SessionFormat


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    handle = factory.Sequence(lambda n: f"product-{n}")
    title = factory.Sequence(lambda n: f"Product {n}")


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    product = factory.SubFactory(ProductFactory)
    code = factory.Sequence(lambda n: f"SKU-{n}")
    price_minor = 4299
    currency = "USD"
    inventory = 10


class LiveSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LiveSession

    # get_or_create: transactional tests flush the formats the data migration seeded.
    format = factory.LazyFunction(
        lambda: SessionFormat.objects.get_or_create(
            slug="ama-10min", defaults={"name": "10-minute AMA + featured SKU", "kind": "ama", "duration_seconds": 600}
        )[0]
    )
    title = factory.Sequence(lambda n: f"Session {n}")
    starts_at = factory.LazyFunction(timezone.now)
    duration_seconds = 600
    timezone = "Europe/Berlin"
    status = LiveSession.Status.LIVE
    stream_url = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"


def make_drop(*, quantity: int = 5, sku=None, session=None, opens_in: int = -60, closes_in: int = 3600, **kwargs):
    """A drop opening `opens_in` seconds from now (negative = already open), closing `closes_in` from now."""
    now = timezone.now()
    return drop_create(
        session=session or LiveSessionFactory(),
        sku=sku or SkuFactory(),
        quantity=quantity,
        opens_at=now + dt.timedelta(seconds=opens_in),
        closes_at=now + dt.timedelta(seconds=closes_in),
        **kwargs,
    )


def make_campaign(
    *, quantity: int = 10, sku=None, series=None, session=None, opens_in: int = -60, closes_in: int = 86400, **kwargs
):
    """A sample campaign open from `opens_in` to `closes_in` seconds from now, every sample available."""
    from sampling.services.campaigns import campaign_create

    now = timezone.now()
    kwargs.setdefault("name", f"Campaign {make_campaign.counter}")
    kwargs.setdefault("slug", f"campaign-{make_campaign.counter}")
    make_campaign.counter += 1
    kwargs.setdefault("use_cases", ["Everyday wear", "A gift", "Special occasion"])
    kwargs.setdefault("unit_cost_minor", 350)
    kwargs.setdefault("declared_value_minor", 1250)
    return campaign_create(
        sku=sku or SkuFactory(),
        series=series,
        session=session,
        quantity=quantity,
        opens_at=now + dt.timedelta(seconds=opens_in),
        closes_at=now + dt.timedelta(seconds=closes_in),
        **kwargs,
    )


make_campaign.counter = 1

ADDRESS_DE = {
    "name": "Ann Example",
    "street_address": "Gontardstraße 7",
    "city": "Berlin",
    "postal_code": "10178",
    "country_code": "DE",
}


def make_popup(*, timezone_name: str = "Europe/Berlin", partner=None, days: int = 3, **kwargs):
    """A pop-up running from today for `days` days (local dates)."""
    from commerce.models import PopUp

    today = timezone.now().date()
    return PopUp.objects.create(
        name=kwargs.pop("name", "Kreuzberg pop-up"),
        address=kwargs.pop("address", "Oranienstraße 1\n10999 Berlin"),
        timezone=timezone_name,
        starts_on=kwargs.pop("starts_on", today),
        ends_on=kwargs.pop("ends_on", today + dt.timedelta(days=days)),
        partner=partner,
        **kwargs,
    )


def make_slot(popup, *, starts_in: int = 3600, minutes: int = 15, capacity: int = 5, **kwargs):
    """A pickup slot starting `starts_in` seconds from now, all places free."""
    from commerce.models import PickupSlot

    starts_at = kwargs.pop("starts_at", None) or timezone.now() + dt.timedelta(seconds=starts_in)
    return PickupSlot.objects.create(
        popup=popup,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=minutes),
        capacity=capacity,
        available=capacity,
        **kwargs,
    )


def make_pickup_drop(*, popup=None, fulfilment: str = "pickup", **kwargs):
    """A live drop sold for pickup at `popup` (a new pop-up if none)."""
    return make_drop(popup=popup or make_popup(), fulfilment=fulfilment, **kwargs)


def make_staff(username: str, *, role: str | None = None, perms: tuple[str, ...] = (), **fields):
    """A staff user in `role`'s group (the groups the migration made; re-made after a flush) and/or with `perms`."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    from commerce.staff_roles import roles_sync

    fields.setdefault("is_staff", True)
    user = get_user_model().objects.create_user(username, password=fields.pop("password", "pw-staff-123"), **fields)
    if role:
        if not Group.objects.filter(name=role).exists():
            roles_sync()
        user.groups.add(Group.objects.get(name=role))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions
