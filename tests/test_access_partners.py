"""Partner access, generated from the API's own registry: the OpenAPI schema (docs/access.md, "Partners").

Every operation in `api.get_openapi_schema()` must have an entry in REGISTRY below, or
`test_every_operation_is_registered` fails and tells you to add one. An entry says what the
operation reaches:

- `owned`: it names an object (path id, query id, or an id/token in the body) that belongs to a
  partner. `probe(world)` creates that object owned by partner A and returns the call; partner B
  (a key with every scope but `shop`) must get the same answer as for a missing object (404
  `not_found`, or the operation's documented equivalent) and nothing in the database may change;
  partner A, the owner, must succeed with the very same call (so the probe is not refused for an
  unrelated reason).
- `catalogue`: the id names shop catalogue that the public storefront shows anyway (sessions,
  drops, a campaign's micro-form): B reads or uses the shop's object (2xx).
- `shop_data`: analytics; B is refused (403) whatever the id, a `shop` key is answered.
- `listing(world)` (any kind): the list never returns partner A's objects to B, and a `shop` key
  gets both partners' objects.

Every operation also answers 403 to a key with no scope at all.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client

from commerce.models import ApiKey, Hold, Order, Partner, PickupBooking, PickupSlot
from commerce.models.partner import SHOP_SCOPE
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from commerce.services.pickup import pickup_pass_token, pickup_slot_book
from config.api import api
from sampling.models import SampleRequest
from sampling.services.requests import sample_request_create
from sessions_app.models import SessionFormat
from tests.factories import LiveSessionFactory, make_campaign, make_drop, make_pickup_drop, make_popup, make_slot
from tests.sampling.helpers import approved_request, make_series

pytestmark = pytest.mark.django_db

ALL_BUT_SHOP = [s for s in ApiKey.SCOPES if s != SHOP_SCOPE]


# --- the world: two partners and the shop ----------------------------------------------------------


@dataclass
class World:
    a: Partner
    b: Partner
    shop_partner: Partner
    keys: dict[str, dict]  # "a", "b", "shop", "none" → request headers

    def order_for(self, partner: Partner | None, email: str) -> Order:
        """A confirmed order placed by `partner`'s key (None = the storefront)."""
        hold = hold_place(drop_id=make_drop().pk, email=email, quantity=1, partner_id=partner.pk if partner else None)
        return checkout_start(hold_token=hold.token)

    def booking_for(self, partner: Partner, email: str = "ann@example.com") -> PickupBooking:
        popup = make_popup(partner=partner, name=f"{partner.name} pop-up")
        drop = make_pickup_drop(popup=popup, quantity=10)
        slot = make_slot(popup, capacity=3)
        make_slot(popup, starts_in=7200, capacity=3)
        return pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email=email, quantity=1, partner_id=partner.pk)

    def approved_request_fulfilled_by(self, partner: Partner | None, email: str) -> SampleRequest:
        campaign = make_campaign(quantity=3, fulfilment_partner=partner)
        return approved_request(campaign, email=email)


@pytest.fixture
def world() -> World:
    a, b = Partner.objects.create(name="Partner A"), Partner.objects.create(name="Partner B")
    shop_partner = Partner.objects.create(name="Shop integrations")

    def headers(partner, scopes):
        return {"X-API-Key": api_key_create(partner=partner, name="k", scopes=scopes)[1]}

    return World(
        a=a,
        b=b,
        shop_partner=shop_partner,
        keys={
            "a": headers(a, ALL_BUT_SHOP),
            "b": headers(b, ALL_BUT_SHOP),
            "shop": headers(shop_partner, list(ApiKey.SCOPES)),
            "none": headers(b, []),
        },
    )


def fingerprint() -> tuple:
    """The state a partner call could change: holds, orders, stock, bookings, slots, sample requests."""
    from commerce.models import Drop

    return (
        list(Hold.objects.order_by("pk").values_list("pk", "status", "partner_id")),
        list(Order.objects.order_by("pk").values_list("pk", "status", "partner_id", "total_minor")),
        list(Drop.objects.order_by("pk").values_list("pk", "available")),
        list(PickupSlot.objects.order_by("pk").values_list("pk", "available")),
        list(PickupBooking.objects.order_by("pk").values_list("pk", "slot_id", "pass_version", "checked_in_at")),
        list(SampleRequest.objects.order_by("pk").values_list("pk", "status", "partner_id", "tracking_number")),
    )


# --- the registry --------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str  # with the query string, without the /api/v1 prefix
    body: object = None
    content_type: str = "application/json"
    expect: int = 404  # what B gets (the same as for `missing`, if given)
    missing: Call | None = None  # the same call naming an object that does not exist
    check: Callable[[dict], None] | None = None  # more about B's answer (e.g. nothing of A's shown)

    def send(self, client: Client, headers: dict):
        data = self.body
        if self.content_type == "application/json" and data is not None and not isinstance(data, str):
            import json

            data = json.dumps(data)
        fn = getattr(client, self.method.lower())
        if self.method == "GET":
            return fn("/api/v1" + self.path, headers=headers)
        return fn("/api/v1" + self.path, data=data or "", content_type=self.content_type, headers=headers)


@dataclass
class Listing:
    call: Call
    ids: Callable[[object], set]  # identifiers in the response
    a: set  # partner A's identifiers
    b: set  # partner B's identifiers


@dataclass
class Entry:
    kind: str  # owned | catalogue | shop_data | plain (no id, nothing owned)
    probe: Callable[[World], Call] | None = None
    listing: Callable[[World], Listing] | None = None
    why: str = ""


def _items(key: str):
    return lambda response: {item[key] for item in response.json()["items"]}


def _csv_ids(response) -> set:
    return {int(row["request_id"]) for row in csv.DictReader(io.StringIO(response.content.decode()))}


# Probes: each creates partner A's object and names it.


def _checkout(w: World) -> Call:
    hold = hold_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1, partner_id=w.a.pk)
    return Call("POST", f"/holds/{hold.token}/checkout", {}, missing=Call("POST", "/holds/no-such-hold/checkout", {}))


def _order(w: World) -> Call:
    order = w.order_for(w.a, "ann@example.com")
    return Call("GET", f"/orders/{order.number}", missing=Call("GET", "/orders/MM-NOSUCH00"))


def _orders_listing(w: World) -> Listing:
    a, b, shop = (w.order_for(p, f"{n}@example.com") for p, n in ((w.a, "a"), (w.b, "b"), (None, "s")))
    return Listing(Call("GET", "/orders"), _items("number"), {a.number, shop.number}, {b.number})


def _sample_request(w: World) -> Call:
    campaign = make_campaign(quantity=3)
    req = sample_request_create(
        campaign_id=campaign.pk, email="ann@example.com", use_case="A gift", consent=True, partner=w.a, rate_limit=False
    ).request
    return Call("GET", f"/samples/requests/{req.pk}", missing=Call("GET", "/samples/requests/987654321"))


def _sample_request_create(w: World) -> Call:
    campaign = make_campaign(quantity=3)
    sample_request_create(
        campaign_id=campaign.pk, email="ann@example.com", use_case="A gift", consent=True, partner=w.a, rate_limit=False
    )
    body = {"campaign": campaign.slug, "email": "Ann+other@Example.com", "use_case": "A gift", "consent": True}

    def check(data):
        assert data["answer"] == "already_requested"
        assert data["request"] is None, "another partner's request must not be shown"

    return Call("POST", "/samples/requests", body, expect=200, check=check)


def _shipments(w: World) -> Call:
    req = w.approved_request_fulfilled_by(w.a, "ann@example.com")
    return Call(
        "GET",
        f"/samples/shipments.csv?campaign={req.campaign.slug}",
        missing=Call("GET", "/samples/shipments.csv?campaign=no-such-campaign"),
    )


def _shipments_listing(w: World) -> Listing:
    a = w.approved_request_fulfilled_by(w.a, "a@example.com")
    b = w.approved_request_fulfilled_by(w.b, "b@example.com")
    shop = w.approved_request_fulfilled_by(None, "s@example.com")
    return Listing(Call("GET", "/samples/shipments.csv"), _csv_ids, {a.pk, shop.pk}, {b.pk})


def _tracking(w: World) -> Call:
    req = w.approved_request_fulfilled_by(w.a, "ann@example.com")

    def csv_for(request_id) -> str:
        return f"request_id,tracking_number,carrier\r\n{request_id},FAKE123,DHL\r\n"

    # An import names requests in its rows: a row naming another partner's request is reported
    # exactly like a row naming a missing one (422 invalid_rows), and nothing is applied.
    return Call(
        "POST",
        "/samples/tracking",
        csv_for(req.pk),
        content_type="text/csv",
        expect=422,
        missing=Call("POST", "/samples/tracking", csv_for(987654321), content_type="text/csv", expect=422),
    )


def _popup_id(w: World) -> int:
    return make_popup(partner=w.a, name="A's pop-up").pk


def _slots(w: World) -> Call:
    return Call("GET", f"/pickup/popups/{_popup_id(w)}/slots", missing=Call("GET", "/pickup/popups/987654/slots"))


def _no_shows(w: World) -> Call:
    return Call("GET", f"/pickup/popups/{_popup_id(w)}/no-shows", missing=Call("GET", "/pickup/popups/987654/no-shows"))


def _popups_listing(w: World) -> Listing:
    a, b = make_popup(partner=w.a, name="A's"), make_popup(partner=w.b, name="B's")
    shop = make_popup(partner=None, name="The shop's")
    return Listing(Call("GET", "/pickup/popups"), _items("id"), {a.pk, shop.pk}, {b.pk})


def _book(w: World) -> Call:
    popup = make_popup(partner=w.a, name="A's pop-up")
    drop, slot = make_pickup_drop(popup=popup, quantity=5), make_slot(popup, capacity=2)
    body = {"drop_id": drop.pk, "slot_id": slot.pk, "email": "ann@example.com", "quantity": 1}
    missing = {**body, "slot_id": 987654}
    return Call("POST", "/pickup/bookings", body, missing=Call("POST", "/pickup/bookings", missing))


def _reschedule(w: World) -> Call:
    booking = w.booking_for(w.a)
    other = PickupSlot.objects.filter(popup=booking.slot.popup).exclude(pk=booking.slot_id).get()
    return Call(
        "POST",
        f"/pickup/bookings/{booking.order.number}/reschedule",
        {"slot_id": other.pk},
        missing=Call("POST", "/pickup/bookings/MM-NOSUCH00/reschedule", {"slot_id": other.pk}),
    )


def _booking(w: World) -> Call:
    booking = w.booking_for(w.a)
    return Call("GET", f"/pickup/bookings/{booking.order.number}", missing=Call("GET", "/pickup/bookings/MM-NOSUCH00"))


def _checkin(w: World) -> Call:
    booking = w.booking_for(w.a)
    body = {"token": pickup_pass_token(booking), "payment_collected": True}
    return Call("POST", "/pickup/checkins", body, missing=Call("POST", "/pickup/checkins", {**body, "token": "forged"}))


# Catalogue and shop data: any object of the shop's.


def _session(w: World) -> Call:
    return Call("GET", f"/sessions/{LiveSessionFactory().public_id}", expect=200)


def _drop(suffix: str) -> Callable[[World], Call]:
    return lambda w: Call("GET", f"/drops/{make_drop().pk}{suffix}", expect=200)


def _drops(w: World) -> Call:
    return Call("GET", f"/drops?session_id={make_drop().session.public_id}", expect=200)


def _hold(w: World) -> Call:
    body = {"drop_id": make_drop().pk, "email": "ann@example.com", "quantity": 1}
    return Call("POST", "/holds", body, expect=201)


def _analytics_session(w: World) -> Call:
    return Call("GET", f"/analytics/sessions/{LiveSessionFactory().public_id}", expect=403)


def _analytics_series(w: World) -> Call:
    return Call("GET", f"/analytics/series/{make_series().pk}", expect=403)


def _analytics_format(w: World) -> Call:
    fmt = SessionFormat.objects.get_or_create(
        slug="ama-10min", defaults={"name": "AMA", "kind": "ama", "duration_seconds": 600}
    )[0]
    return Call("GET", f"/analytics/formats/{fmt.slug}", expect=403)


def _analytics(path: str) -> Callable[[World], Call]:
    return lambda w: Call("GET", path, expect=403)


# Session assets (sessions_app.assets.api): sessions, their recordings and public clips are shop
# catalogue; an upload is the partner's that opened it. Writes go through VIDEO's services
# (sessions_app.assets.services): their probes skip until that module is present.


def _asset_services():
    try:
        from sessions_app.assets import services
    except ImportError:
        pytest.skip("sessions_app.assets.services (upload/clip services) is not in this tree yet")
    return services


def _watch_coupons(w: World) -> Call:
    """A session's watch-gated coupons: terms and counts only (no visitor ids, no codes)."""
    from tests.commerce.watch_support import programme

    coupon = programme(seconds=60)

    def check(data):
        [item] = data["items"]
        assert item["id"] == coupon.pk and "code" not in item and "visitor_id" not in str(data)

    return Call("GET", f"/sessions/{coupon.session.public_id}/watch-coupons", expect=200, check=check)


def _assets_list(kind: str) -> Callable[[World], Call]:
    def probe(w: World) -> Call:
        from tests.sessions_app.assets.pages_world import ended_session_with_clip

        clip = ended_session_with_clip()
        return Call("GET", f"/sessions/{clip.session.public_id}/{kind}", expect=200)

    return probe


def _clip_create(w: World) -> Call:
    from tests.sessions_app.assets.pages_world import ended_session_with_clip

    _asset_services()
    clip = ended_session_with_clip()
    body = {"recording_id": str(clip.recording.public_id), "start_ms": 0, "end_ms": 2000, "title": "B's cut"}
    return Call("POST", f"/sessions/{clip.session.public_id}/clips", body, expect=201)


def _upload_open(w: World) -> Call:
    _asset_services()
    body = {"original_name": "rec.mp4", "total_bytes": 1000}
    return Call("POST", f"/sessions/{LiveSessionFactory().public_id}/uploads", body, expect=201)


def _upload_of_a(w: World):
    from sessions_app.assets.models import RecordingUpload

    return RecordingUpload.objects.create(
        session=LiveSessionFactory(), original_name="rec.mp4", total_bytes=1000, staging_path="unused", partner=w.a
    )


def _upload_get(w: World) -> Call:
    upload = _upload_of_a(w)
    return Call("GET", f"/uploads/{upload.public_id}", missing=Call("GET", f"/uploads/{uuid.uuid4()}"))


def _upload_patch(w: World) -> Call:
    upload = _upload_of_a(w)  # an empty chunk at the current offset: a no-op the owner is answered 200
    octets = "application/offset+octet-stream"
    return Call(
        "PATCH",
        f"/uploads/{upload.public_id}?offset=0",
        "",
        content_type=octets,
        missing=Call("PATCH", f"/uploads/{uuid.uuid4()}?offset=0", "", content_type=octets),
    )


def _upload_complete(w: World) -> Call:
    import hashlib

    from tests.sessions_app.assets.pages_world import VIDEO

    services = _asset_services()
    data = VIDEO.read_bytes()
    upload = services.upload_open(
        session_id=LiveSessionFactory().pk, original_name="rec.mp4", total_bytes=len(data), partner=w.a
    )
    services.upload_append(upload_id=upload.pk, offset=0, chunks=[data])
    body = {"sha256": hashlib.sha256(data).hexdigest()}
    return Call(
        "POST",
        f"/uploads/{upload.public_id}/complete",
        body,
        missing=Call("POST", f"/uploads/{uuid.uuid4()}/complete", body),
    )


# Series (sessions_app.api_cadence): shop catalogue, like the sessions they schedule.


def _cadence_series():
    from tests.sessions_app.cadence.helpers import make_series

    return make_series(slug=f"weekly-{uuid.uuid4().hex[:8]}")


def _series_get(suffix: str) -> Callable[[World], Call]:
    return lambda w: Call("GET", f"/series/{_cadence_series().slug}{suffix}", expect=200)


def _series_follow(w: World) -> Call:
    return Call("POST", f"/series/{_cadence_series().slug}/followers", {"email": "ann@example.com"}, expect=202)


# The live control room (sessions_app.api_control): steering the shop's show is shop data
# (sessions:control works only with shop): B is refused whatever the session, the shop key acts.


def _control(suffix: str, body=None, status: str = "live", drop: str | None = None) -> Callable[[World], Call]:
    def probe(w: World) -> Call:
        session = LiveSessionFactory(status=status)
        opens_in = 3600 if drop == "later" else -60
        d = make_drop(session=session, opens_in=opens_in, closes_in=opens_in + 3600)
        path = suffix.format(drop_id=d.pk)
        payload = {k: (d.pk if v == "DROP" else v) for k, v in body.items()} if body is not None else None
        return Call(
            "POST" if payload is not None or suffix != "/control" else "GET",
            f"/sessions/{session.public_id}{path}",
            payload,
            expect=403,
        )

    return probe


def _waitlist_join(w: World) -> Call:
    drop = make_drop(quantity=1)
    hold_place(drop_id=drop.pk, email="first@example.com", quantity=1)  # sold out: the line is open
    body = {"drop_id": drop.pk, "email": "ann@example.com", "quantity": 1}
    return Call("POST", "/waitlist/entries", body, expect=202)


def _waitlist_summary(w: World) -> Call:
    return Call("GET", f"/drops/{make_drop().pk}/waitlist", expect=403)


def _carry_over(w: World) -> Call:
    import datetime as dt

    from django.utils import timezone

    series, now = make_series(slug=f"carry-{uuid.uuid4().hex[:8]}"), timezone.now()
    ended = LiveSessionFactory(series=series, status="ended", starts_at=now - dt.timedelta(hours=1))
    LiveSessionFactory(series=series, status="scheduled", starts_at=now + dt.timedelta(days=7))
    return Call("POST", f"/drops/{make_drop(session=ended, carry_over=True).pk}/carry-over", {}, expect=403)


def _membership_probe(suffix: str) -> Callable[[World], Call]:
    """Memberships are shop data (no partner owner): B is refused whatever the id, the shop key reads."""

    def probe(w: World) -> Call:
        from django.utils import timezone

        from commerce.memberships.models import MembershipPlan
        from commerce.memberships.services_billing import membership_join

        plan = MembershipPlan.objects.create(
            slug=f"vip-{uuid.uuid4().hex[:8]}", name="VIP", price_minor=499, currency="USD"
        )
        m = membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now(), provider="manual")
        return Call("GET", suffix.format(id=m.membership.pk), expect=403)

    return probe


CATALOGUE = "shop catalogue: the public storefront shows it, so every key with the read scope sees it"
SHOP_DATA = "analytics are shop data: only keys with the shop scope"
CONTROL = "steering the shop's live show is the shop's: sessions:control works only with the shop scope"
# Community bundles and refundable trials (commerce.memberships.api_bundles / api_trials, docs/trials.md).


def _trial_order(partner, email: str):
    """A paid order of one unit of a 14-day trial SKU, placed through `partner`'s key (None = storefront)."""
    from commerce.services.orders import order_mark_paid
    from tests.commerce.memberships.trial_support import trial_drop

    hold = hold_place(drop_id=trial_drop().pk, email=email, quantity=1, partner_id=partner.pk if partner else None)
    return order_mark_paid(order_id=checkout_start(hold_token=hold.token).pk)


def _trial_return(w: World) -> Call:
    order = _trial_order(w.a, "ann@example.com")
    line = order.lines.get()
    return Call(
        "POST",
        f"/orders/{order.number}/lines/{line.pk}/trial-return",
        {"reason": "too big"},
        expect=404,
        missing=Call("POST", f"/orders/MM-NOSUCH00/lines/{line.pk}/trial-return", {"reason": "too big"}),
    )


def _trial_returns_listing(w: World) -> Listing:
    from commerce.memberships.services_trials import trial_return_request

    made = {}
    for key, partner in (("a", w.a), ("b", w.b), ("s", None)):
        order = _trial_order(partner, f"{key}@example.com")
        made[key] = trial_return_request(order_id=order.pk, line_id=order.lines.get().pk).pk
    return Listing(Call("GET", "/trial-returns"), _items("id"), {made["a"], made["s"]}, {made["b"]})


REGISTRY: dict[str, Entry] = {
    "GET /api/v1/sessions": Entry("plain", why=CATALOGUE),
    "GET /api/v1/sessions/{session_id}": Entry("catalogue", _session, why=CATALOGUE),
    "GET /api/v1/sessions/{session_id}/watch-coupons": Entry("catalogue", _watch_coupons, why=CATALOGUE),
    "GET /api/v1/drops": Entry("catalogue", _drops, why=CATALOGUE),
    "GET /api/v1/drops/{drop_id}": Entry("catalogue", _drop(""), why=CATALOGUE),
    "GET /api/v1/drops/{drop_id}/status": Entry("catalogue", _drop("/status"), why=CATALOGUE),
    "POST /api/v1/holds": Entry("catalogue", _hold, why="any key may hold a public drop; the hold is its own"),
    "POST /api/v1/holds/{token}/checkout": Entry("owned", _checkout),
    "GET /api/v1/orders": Entry("plain", listing=_orders_listing),
    "GET /api/v1/orders/{number}": Entry("owned", _order),
    "GET /api/v1/analytics/sessions/{session_id}": Entry("shop_data", _analytics_session, why=SHOP_DATA),
    "GET /api/v1/analytics/series/{series_id}": Entry("shop_data", _analytics_series, why=SHOP_DATA),
    "GET /api/v1/analytics/formats/{format_slug}": Entry("shop_data", _analytics_format, why=SHOP_DATA),
    "GET /api/v1/analytics/cohorts": Entry("shop_data", _analytics("/analytics/cohorts"), why=SHOP_DATA),
    "GET /api/v1/analytics/events": Entry("shop_data", _analytics("/analytics/events"), why=SHOP_DATA),
    "GET /api/v1/analytics/retention": Entry("shop_data", _analytics("/analytics/retention"), why=SHOP_DATA),
    "POST /api/v1/samples/requests": Entry("owned", _sample_request_create),
    "GET /api/v1/samples/requests/{request_id}": Entry("owned", _sample_request),
    "GET /api/v1/samples/shipments.csv": Entry("owned", _shipments, listing=_shipments_listing),
    "POST /api/v1/samples/tracking": Entry("owned", _tracking),
    "GET /api/v1/pickup/popups": Entry("plain", listing=_popups_listing),
    "GET /api/v1/pickup/popups/{popup_id}/slots": Entry("owned", _slots),
    "GET /api/v1/pickup/popups/{popup_id}/no-shows": Entry("owned", _no_shows),
    "POST /api/v1/pickup/bookings": Entry("owned", _book),
    "POST /api/v1/pickup/bookings/{order_number}/reschedule": Entry("owned", _reschedule),
    "GET /api/v1/pickup/bookings/{order_number}": Entry("owned", _booking),
    "POST /api/v1/pickup/checkins": Entry("owned", _checkin),
    "GET /api/v1/sessions/{session_id}/recordings": Entry("catalogue", _assets_list("recordings"), why=CATALOGUE),
    "GET /api/v1/sessions/{session_id}/clips": Entry("catalogue", _assets_list("clips"), why=CATALOGUE),
    "GET /api/v1/sessions/{session_id}/thumbnails": Entry("catalogue", _assets_list("thumbnails"), why=CATALOGUE),
    "POST /api/v1/sessions/{session_id}/clips": Entry(
        "catalogue", _clip_create, why="any assets:write key may cut a clip of a shop session; the clip is its own"
    ),
    "POST /api/v1/sessions/{session_id}/uploads": Entry(
        "catalogue", _upload_open, why="any assets:write key may upload to a shop session; the upload is its own"
    ),
    "GET /api/v1/series": Entry("plain", why=CATALOGUE),
    "GET /api/v1/series/{slug}": Entry("catalogue", _series_get(""), why=CATALOGUE),
    "GET /api/v1/series/{slug}/calendar": Entry("catalogue", _series_get("/calendar"), why=CATALOGUE),
    "POST /api/v1/series/{slug}/followers": Entry(
        "catalogue", _series_follow, why="any followers:write key may start double opt-in on a public series"
    ),
    "GET /api/v1/uploads/{upload_id}": Entry("owned", _upload_get),
    "PATCH /api/v1/uploads/{upload_id}": Entry("owned", _upload_patch),
    "POST /api/v1/uploads/{upload_id}/complete": Entry("owned", _upload_complete),
    "GET /api/v1/sessions/{session_id}/control": Entry("shop_data", _control("/control"), why=CONTROL),
    "POST /api/v1/sessions/{session_id}/go-live": Entry(
        "shop_data", _control("/go-live", {}, "scheduled"), why=CONTROL
    ),
    "POST /api/v1/sessions/{session_id}/end": Entry("shop_data", _control("/end", {}), why=CONTROL),
    "POST /api/v1/sessions/{session_id}/pin": Entry("shop_data", _control("/pin", {"drop_id": "DROP"}), why=CONTROL),
    "POST /api/v1/sessions/{session_id}/drops/{drop_id}/open": Entry(
        "shop_data", _control("/drops/{drop_id}/open", {}, drop="later"), why=CONTROL
    ),
    "POST /api/v1/sessions/{session_id}/drops/{drop_id}/close": Entry(
        "shop_data", _control("/drops/{drop_id}/close", {}), why=CONTROL
    ),
    "POST /api/v1/sessions/{session_id}/flash-coupons": Entry(
        "shop_data", _control("/flash-coupons", {"percent_off": 10, "minutes": 5, "max_redemptions": 3}), why=CONTROL
    ),
    "POST /api/v1/waitlist/entries": Entry(
        "catalogue", _waitlist_join, why="any waitlist:write key may put a viewer in line for a public drop"
    ),
    "GET /api/v1/drops/{drop_id}/waitlist": Entry("shop_data", _waitlist_summary, why="waitlist figures are shop data"),
    "POST /api/v1/drops/{drop_id}/carry-over": Entry("shop_data", _carry_over, why="moving stock is the shop's"),
    # memberships (docs/memberships.md): plans are catalogue (/members/ shows them); who is a member is shop data
    "GET /api/v1/plans": Entry("plain", why=CATALOGUE),
    "GET /api/v1/memberships": Entry(
        "shop_data", _membership_probe("/memberships"), why="memberships have no partner owner: shop data"
    ),
    "GET /api/v1/memberships/{membership_id}": Entry(
        "shop_data", _membership_probe("/memberships/{id}"), why="memberships have no partner owner: shop data"
    ),
    "GET /api/v1/bundles": Entry("plain", why=CATALOGUE),
    "POST /api/v1/orders/{number}/lines/{line_id}/trial-return": Entry("owned", _trial_return),
    "GET /api/v1/trial-returns": Entry("plain", listing=_trial_returns_listing),
}


# --- walking the schema ----------------------------------------------------------------------------

SCHEMA = api.get_openapi_schema()
OPERATIONS = sorted(f"{method.upper()} {path}" for path, item in SCHEMA["paths"].items() for method in item)
ID_NAME = re.compile(r"(^|_)(id|token|number|slug|campaign)$")


def takes_an_id(operation: str) -> bool:
    """A path parameter, an id-like query parameter, or an id-like member of the JSON body."""
    method, path = operation.split(" ", 1)
    op = SCHEMA["paths"][path][method.lower()]
    for param in op.get("parameters", []):
        if param["in"] == "path" or ID_NAME.search(param["name"]):
            return True
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in body:
        body = SCHEMA["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return any(ID_NAME.search(name) for name in body.get("properties", {}))


def entry_for(operation: str) -> Entry:
    entry = REGISTRY.get(operation)
    if entry is None:
        pytest.fail(
            f"{operation} is not in tests/test_access_partners.py REGISTRY. Add an Entry saying whose objects "
            "it reaches (owned + a probe creating partner A's object, catalogue, shop_data, or plain + a "
            "listing) and make the endpoint go through commerce.access (docs/access.md, 'Registering a new "
            "endpoint')."
        )
    return entry


def test_every_operation_is_registered():
    missing = [op for op in OPERATIONS if op not in REGISTRY]
    assert not missing, (
        f"Operations without an access entry: {missing}. Add each to REGISTRY in tests/test_access_partners.py "
        "(docs/access.md, 'Registering a new endpoint')."
    )
    stale = sorted(set(REGISTRY) - set(OPERATIONS))
    assert not stale, f"REGISTRY names operations the API no longer has: {stale}"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_operations_taking_an_id_have_a_probe(operation):
    entry = entry_for(operation)
    if takes_an_id(operation) or entry.kind != "plain":
        assert entry.kind in ("owned", "catalogue", "shop_data"), f"{operation} takes an id: it needs a probe kind"
        assert entry.probe is not None, f"{operation}: register a probe that creates partner A's object"
    if entry.kind in ("catalogue", "shop_data", "plain"):
        assert entry.why or entry.listing, f"{operation}: say why it is not owned, or give a listing"


def _fill(path: str) -> str:
    """Any syntactically valid value for each path parameter."""
    return re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1) == "session_id" else "1", path)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_key_without_scopes_is_refused_everywhere(client, world, operation):
    method, path = operation.split(" ", 1)
    call = Call(method, _fill(path).removeprefix("/api/v1"), {} if method != "GET" else None)
    response = call.send(client, world.keys["none"])
    assert response.status_code == 403, (operation, response.content)
    assert response.json()["code"] == "forbidden"


OWNED_OR_SHARED = [op for op in OPERATIONS if REGISTRY.get(op) is None or REGISTRY[op].probe is not None]


@pytest.mark.parametrize("operation", OWNED_OR_SHARED)
def test_another_partners_object_answers_like_a_missing_one_and_nothing_changes(client, world, operation):
    entry = entry_for(operation)
    call = entry.probe(world)
    if entry.kind == "owned" and call.missing is not None:
        # given a missing object, when partner B names it, then it is told "not found" …
        gone = call.missing.send(client, world.keys["b"])
        assert gone.status_code == call.missing.expect, (operation, gone.content)
    before = fingerprint()
    # when partner B names partner A's object
    response = call.send(client, world.keys["b"])
    # then … and A's object gets the very same answer, with nothing changed
    assert response.status_code == call.expect, (operation, response.content)
    if entry.kind == "owned":
        assert fingerprint() == before, f"{operation}: partner B changed partner A's data"
        if call.missing is not None:
            assert response.json()["code"] == gone.json()["code"]
            assert set(response.json()["fields"]) == set(gone.json()["fields"])
        if call.check is not None:
            call.check(response.json())
        # the owner is answered by the very same call (the probe is refused only for ownership)
        own = call.send(client, world.keys["a"])
        assert 200 <= own.status_code < 300, (operation, own.content)
    elif entry.kind == "shop_data":
        assert response.json()["code"] == "forbidden"
        shop = call.send(client, world.keys["shop"])
        assert 200 <= shop.status_code < 300, (operation, shop.content)


LISTINGS = [op for op in OPERATIONS if REGISTRY.get(op) is not None and REGISTRY[op].listing is not None]


@pytest.mark.parametrize("operation", LISTINGS)
def test_lists_show_only_the_callers_objects_and_everything_to_the_shop(client, world, operation):
    listing = REGISTRY[operation].listing(world)
    as_b = listing.call.send(client, world.keys["b"])
    assert as_b.status_code == 200, as_b.content
    assert listing.ids(as_b) == listing.b, f"{operation}: B must see exactly its own objects"
    as_shop = listing.call.send(client, world.keys["shop"])
    assert listing.ids(as_shop) >= listing.a | listing.b, f"{operation}: the shop scope sees every owner's objects"


def test_owned_operations_cover_the_issue_probes():
    """The probes reported in issue #10 are all among the generated ones."""
    for op in (
        "GET /api/v1/orders/{number}",
        "POST /api/v1/holds/{token}/checkout",
        "GET /api/v1/samples/requests/{request_id}",
        "GET /api/v1/samples/shipments.csv",
        "POST /api/v1/samples/tracking",
    ):
        assert REGISTRY[op].kind == "owned"
