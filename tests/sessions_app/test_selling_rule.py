"""Session state governs selling: one rule (commerce.selectors.session_sale_state) on every path.

States: scheduled (no pre-sale), scheduled with a pre-sale not open yet, pre-sale open, live,
ended, cancelled. Paths: the session page, /s/<id>/status.json, the drop (QR-pay) page, the
partner API's holds, the hold service (offers and one-click), and the checkout of an existing hold.
Runs on SQLite (ORM gate) and, with DATABASE_URL, on PostgreSQL (the prepared hold statement's gate).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from commerce.exceptions import DropUnavailable
from commerce.models import Drop, Hold, Order, Partner
from commerce.selectors import SESSION_SELLING, drop_status, drop_with_stock, session_sale_state, session_selling_q
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from sessions_app.models import LiveSession
from sessions_app.services import SessionError, session_cancel, session_end, session_go_live
from tests.factories import LiveSessionFactory, make_drop

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)

# state name → (session fields relative to now, expected drop state, expected session_state, expected hold error code)
STATES = {
    "scheduled": ({"status": "scheduled"}, "not_yet_open", "scheduled", "session_not_live"),
    "presale_later": (
        {"status": "scheduled", "presale_opens_at": +HOUR},
        "not_yet_open",
        "scheduled",
        "session_not_live",
    ),
    "presale": ({"status": "scheduled", "presale_opens_at": -HOUR}, "live", "presale", None),
    "live": ({"status": "live"}, "live", "live", None),
    "ended": ({"status": "ended"}, "closed", "ended", "session_ended"),
    "cancelled": ({"status": "cancelled"}, "cancelled", "cancelled", "session_cancelled"),
}


def session_in(state: str) -> LiveSession:
    fields, *_ = STATES[state]
    now = timezone.now()
    values = {k: (now + v if isinstance(v, dt.timedelta) else v) for k, v in fields.items()}
    return LiveSessionFactory(starts_at=now + 2 * HOUR, **values)


@pytest.fixture
def api_auth():
    raw = api_key_create(
        partner=Partner.objects.create(name="Affiliate"), name="w", scopes=["drops:read", "holds:write"]
    )[1]
    return {"X-API-Key": raw}


# --- the rule in its three spellings agrees -------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_python_rule_and_orm_filter_agree(state):
    session = session_in(state)
    now = timezone.now()
    python = (
        session_sale_state(status=session.status, presale_opens_at=session.presale_opens_at, now=now) in SESSION_SELLING
    )
    orm = LiveSession.objects.filter(session_selling_q(now=now, prefix=""), pk=session.pk).exists()
    assert python == orm == (STATES[state][3] is None)


# --- each state × each path -----------------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_status_json(client, state):
    session = session_in(state)
    drop = make_drop(session=session)
    body = client.get(reverse("sessions_app:session_status", args=[session.public_id])).json()
    _, drop_state, session_state, _ = STATES[state]
    assert (body["session"], body["session_state"]) == (session.status, session_state)
    assert [(d["id"], d["state"], d["session_state"]) for d in body["drops"]] == [(drop.pk, drop_state, session_state)]


@pytest.mark.parametrize("state", STATES)
def test_session_page_buy_button(client, state):
    session = session_in(state)
    make_drop(session=session)
    html = client.get(session.get_absolute_url()).content.decode()
    _, drop_state, _, code = STATES[state]
    assert f'data-state="{drop_state}"' in html
    assert ('aria-disabled="false">Buy now' in html) == (code is None)


@pytest.mark.parametrize("state", STATES)
def test_drop_page_and_qr_pay(client, state):
    session = session_in(state)
    drop = make_drop(session=session)
    url = reverse("commerce:checkout", args=[drop.pk])  # the QR code's target
    page = client.get(url).content.decode()
    assert ('type="submit">Reserve' in page) == (STATES[state][3] is None)
    response = client.post(url, {"email": "viewer@example.com", "quantity": 1})
    held = Hold.objects.filter(drop=drop).count()
    if STATES[state][3] is None:
        assert (response.status_code, held) == (302, 1)
    else:
        assert (response.status_code, held) == (409, 0)
        assert Drop.objects.get(pk=drop.pk).available == drop.quantity


@pytest.mark.parametrize("state", STATES)
def test_api_hold(client, api_auth, state):
    session = session_in(state)
    drop = make_drop(session=session)
    response = client.post(
        "/api/v1/holds",
        data={"drop_id": drop.pk, "email": "a@example.com", "quantity": 1},
        content_type="application/json",
        headers=api_auth,
    )
    code = STATES[state][3]
    if code is None:
        assert response.status_code == 201
    else:
        assert (response.status_code, response.json()["code"]) == (409, code)
        assert Hold.objects.filter(drop=drop).count() == 0
    status = client.get(f"/api/v1/drops/{drop.pk}/status", headers=api_auth).json()
    assert (status["state"], status["session_state"]) == STATES[state][1:3]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("fulfilment", ["ship", "pickup"])
def test_hold_service_both_paths(state, fulfilment):
    """The spike path (one statement on PostgreSQL) and the pickup path (ORM / same statement) obey it."""
    from tests.factories import make_popup, make_slot

    session = session_in(state)
    popup = make_popup() if fulfilment == "pickup" else None
    drop = make_drop(session=session, fulfilment=fulfilment, popup=popup)
    slot = make_slot(popup) if popup else None
    code = STATES[state][3]
    kwargs = {"pickup_slot_id": slot.pk} if slot else {}
    if code is None:
        assert hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, **kwargs).status == "active"
    else:
        with pytest.raises(DropUnavailable) as exc:
            hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, **kwargs)
        assert exc.value.code == code
        assert Drop.objects.get(pk=drop.pk).available == drop.quantity


def test_drop_window_still_applies_inside_a_live_session():
    drop = make_drop(session=session_in("live"), opens_in=600)
    assert drop_status(drop=drop_with_stock(drop_id=drop.pk))["state"] == "not_yet_open"
    with pytest.raises(DropUnavailable) as exc:
        hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    assert exc.value.code == "not_yet_open"


# --- transitions ----------------------------------------------------------------------------


def test_end_refuses_new_holds_but_a_cart_in_progress_checks_out():
    drop = make_drop(quantity=5)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    session_end(session_id=drop.session_id)
    with pytest.raises(DropUnavailable) as exc:
        hold_place(drop_id=drop.pk, email="b@example.com", quantity=1)
    assert exc.value.code == "session_ended"
    assert checkout_start(hold_token=hold.token).status == Order.Status.AWAITING_PAYMENT


def test_cancel_releases_holds_and_they_never_become_orders():
    session = session_in("presale")
    drop = make_drop(session=session, quantity=5)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    assert Drop.objects.get(pk=drop.pk).available == 3
    session_cancel(session_id=session.pk)
    hold.refresh_from_db()
    assert (hold.status, Drop.objects.get(pk=drop.pk).available) == ("released", 5)
    with pytest.raises(DropUnavailable) as exc:
        checkout_start(hold_token=hold.token)
    assert exc.value.code == "session_cancelled"
    assert Order.objects.count() == 0


def test_the_cart_of_a_cancelled_session_says_it_was_cancelled_not_expired(client):
    session = session_in("presale")  # a live session ends rather than cancels
    drop = make_drop(session=session, quantity=5)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    session_cancel(session_id=session.pk)
    response = client.get(reverse("commerce:hold", args=[hold.token]))
    page = response.content.decode()
    assert response.status_code == 410
    assert "This session was cancelled." in page and "nothing was charged" in page
    assert "Your reservation has expired" not in page and "went back on sale" not in page
    # paying is refused the same way (no order)
    response = client.post(reverse("commerce:hold", args=[hold.token]), {"pay": "1"})
    assert response.status_code == 410 and "This session was cancelled." in response.content.decode()
    assert not Order.objects.exists()


def test_late_payment_on_a_cancelled_session_is_refunded_not_converted():
    from commerce.services.payments import payment_confirm

    session = session_in("presale")
    drop = make_drop(session=session, quantity=5)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    # A Stripe order pending payment when the session is cancelled: the payment is refunded.
    from commerce.services import orders as orders_service

    order = orders_service._order_create(
        customer_id=hold.customer_id,
        session_id=session.pk,
        currency="USD",
        payment_provider="stripe",
        subtotal_minor=4299,
        discount_minor=0,
        total_minor=4299,
        hold=hold,
    )
    session_cancel(session_id=session.pk)
    outcome = payment_confirm(provider="stripe", reference=order.payment_reference, amount_minor=4299, currency="USD")
    assert outcome.outcome == "refunded_late"
    hold.refresh_from_db()
    assert hold.status == "released"
    assert Drop.objects.get(pk=drop.pk).available == 5


def test_go_live_records_the_real_start_and_retitles_a_series_session(client):
    from sessions_app.models import Series
    from sessions_app.services import series_plan_sessions

    series = Series.objects.create(
        name="Weekly",
        slug="weekly",
        format=LiveSessionFactory().format,
        host_name="Ann",
        timezone="Europe/Berlin",
        weekday=6,
        local_time=dt.time(18, 0),
        starts_on=dt.date(2026, 12, 1),
    )
    tuesday = dt.datetime(2026, 12, 1, 17, 0, tzinfo=dt.UTC)
    session = series_plan_sessions(series=series, now=tuesday)[0]
    assert session.title == "Weekly — Sun 06 Dec"
    session = session_go_live(session_id=session.pk, now=tuesday)
    assert (session.went_live_at, session.title) == (tuesday, "Weekly — Tue 01 Dec")
    assert session.shown_start == tuesday
    home = client.get(reverse("sessions_app:home")).content.decode()
    assert "Weekly — Tue 01 Dec" in home and "Sun 06 Dec" not in home
    ended = session_end(session_id=session.pk, now=tuesday + HOUR)
    assert ended.ended_at == tuesday + HOUR
    with pytest.raises(SessionError):
        session_go_live(session_id=session.pk)


# --- what the page shows in each state ----------------------------------------------------


@pytest.mark.parametrize(
    ("state", "stream_url", "shown", "hidden"),
    [
        ("scheduled", "https://example.com/clip.webm", "data-session-countdown", "<video"),
        ("presale", "https://example.com/clip.webm", "the pre-sale is open now", "<video"),
        ("live", "https://example.com/clip.webm", "<video", "data-session-countdown"),
        ("live", "", "the host has not connected a stream yet", "when the session goes live"),
        ("ended", "https://example.com/clip.webm", "This session has ended", "<video"),
        ("cancelled", "https://example.com/clip.webm", "This session was cancelled", "<video"),
    ],
)
def test_stream_area_matches_the_state(client, state, stream_url, shown, hidden):
    session = session_in(state)
    session.stream_url = stream_url
    session.save()
    html = client.get(session.get_absolute_url()).content.decode()
    assert shown in html
    assert hidden not in html
    assert "style=" not in html  # CSP: no inline styles


def test_times_on_the_session_page_are_in_the_session_zone_and_say_so(client):
    session = LiveSessionFactory(
        timezone="America/New_York", starts_at=dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC), status="scheduled"
    )
    session_go_live(session_id=session.pk, now=dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC))
    make_drop(
        session=session,
        pricing="step_down",
        step_percent=10,
        step_seconds=600,
        floor_price_minor=1000,
        opens_in=-30,
    )
    html = client.get(session.get_absolute_url()).content.decode()
    start = html.index("Live since")
    assert "Tue 1 Dec, 18:00 EST (America/New_York)</time>" in html[start : start + 200], html[start : start + 200]
    assert " UTC</time>" not in html
    assert "Price drops at <time" in html and "(America/New_York)</time>" in html


def test_going_live_early_onto_a_day_with_a_session_keeps_titles_unique():
    from sessions_app.models import Series
    from sessions_app.services import series_plan_sessions

    series = Series.objects.create(
        name="Daily",
        slug="daily",
        format=LiveSessionFactory().format,
        host_name="Ann",
        timezone="Europe/Berlin",
        weekday=1,
        local_time=dt.time(20, 0),
        starts_on=dt.date(2026, 12, 1),
    )
    monday = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    tuesday_session, next_tuesday = series_plan_sessions(series=series, now=monday)[:2]
    assert tuesday_session.title == "Daily — Tue 01 Dec"
    early = dt.datetime(2026, 12, 1, 17, 3, tzinfo=dt.UTC)  # next week's session goes live on this Tuesday
    session = session_go_live(session_id=next_tuesday.pk, now=early)
    assert session.title == "Daily — Tue 01 Dec 18:03"  # Berlin time
    assert LiveSession.objects.filter(title="Daily — Tue 01 Dec").count() == 1


def test_the_sessions_api_reports_the_real_start_like_status_json(client):
    partner = Partner.objects.create(name="P")
    _, raw = api_key_create(partner=partner, name="k", scopes=["sessions:read"])
    planned = (timezone.now() + dt.timedelta(days=2)).replace(microsecond=0)
    session = LiveSessionFactory(starts_at=planned, status=LiveSession.Status.SCHEDULED)
    went = timezone.now().replace(microsecond=0)
    session_go_live(session_id=session.pk, now=went)
    item = client.get("/api/v1/sessions", headers={"X-API-Key": raw}).json()["items"][0]
    assert dt.datetime.fromisoformat(item["starts_at"]) == went
    assert dt.datetime.fromisoformat(item["went_live_at"]) == went
    assert dt.datetime.fromisoformat(item["scheduled_at"]) == planned
    status = client.get(reverse("sessions_app:session_status", args=[session.public_id])).json()
    assert dt.datetime.fromisoformat(status["starts_at"]) == went
