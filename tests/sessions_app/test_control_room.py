"""The live control room (sessions_app.control): actions, counters, the staff page, viewers' page, API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from auditlog.models import LogEntry
from django.contrib.admin.models import LogEntry as AdminLogEntry
from django.core.cache import cache
from django.utils import timezone

from commerce.models import ApiKey, Coupon, Drop, Hold, Order, Partner
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from commerce.services.orders import order_mark_paid, order_place
from sessions_app.control import services
from sessions_app.control.selectors import control_room_counters
from sessions_app.control.services import ControlError
from sessions_app.models import LiveSession, SessionMoment
from sessions_app.watch import watch_buffer_in_use, watch_poll_record
from tests.factories import LiveSessionFactory, make_drop, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def live():
    """A live session with two open drops (A opens first) and one that opens in an hour."""
    session = LiveSessionFactory(status="live")
    a = make_drop(session=session, quantity=10, per_customer_limit=5, price_minor=2000, opens_in=-120, title="Ring A")
    b = make_drop(session=session, quantity=5, price_minor=3000, opens_in=-60, title="Ring B")
    later = make_drop(session=session, quantity=3, opens_in=3600, closes_in=7200, title="Ring later")
    return session, a, b, later


def moments(session, kind):
    return list(SessionMoment.objects.filter(session=session, kind=kind).order_by("at", "pk"))


# --- services ----------------------------------------------------------------------------------------


def test_pin_sets_the_pinned_drop_records_the_moment_and_is_audited(live):
    session, a, b, _ = live
    now = timezone.now()
    services.control_pin_drop(session_id=session.pk, drop_id=b.pk, actor=None, now=now)
    session.refresh_from_db()
    assert session.pinned_drop_id == b.pk
    [moment] = moments(session, SessionMoment.Kind.DROP_PINNED)
    assert (moment.at, moment.drop_id) == (now, b.pk)
    entry = LogEntry.objects.get_for_object(session).filter(action=LogEntry.Action.UPDATE).get()
    assert str(b.pk) in json.dumps(entry.changes)
    # pinning it again changes nothing, unpinning records a second moment
    services.control_pin_drop(session_id=session.pk, drop_id=b.pk, now=now)
    assert len(moments(session, SessionMoment.Kind.DROP_PINNED)) == 1
    services.control_pin_drop(session_id=session.pk, drop_id=None, now=now + dt.timedelta(seconds=5))
    session.refresh_from_db()
    assert session.pinned_drop_id is None
    assert moments(session, SessionMoment.Kind.DROP_PINNED)[-1].note == "unpinned"


def test_pin_refuses_another_sessions_drop_and_a_finished_session(live):
    session, a, _, _ = live
    other = make_drop(title="Elsewhere")
    with pytest.raises(ControlError) as exc:
        services.control_pin_drop(session_id=session.pk, drop_id=other.pk)
    assert (exc.value.code, exc.value.status) == ("drop_not_in_session", 404)
    LiveSession.objects.filter(pk=session.pk).update(status="ended")
    with pytest.raises(ControlError) as exc:
        services.control_pin_drop(session_id=session.pk, drop_id=a.pk)
    assert exc.value.code == "session_over"
    session.refresh_from_db()
    assert session.pinned_drop_id is None and not SessionMoment.objects.filter(session=session).exists()


def test_open_now_moves_a_future_opening_to_now(live):
    session, _, _, later = live
    now = timezone.now()
    planned_close = later.closes_at
    services.control_open_drop(session_id=session.pk, drop_id=later.pk, now=now)
    later.refresh_from_db()
    assert (later.opens_at, later.closes_at) == (now, planned_close)
    assert [m.at for m in moments(session, SessionMoment.Kind.DROP_OPENED)] == [now]
    with pytest.raises(ControlError) as exc:
        services.control_open_drop(session_id=session.pk, drop_id=later.pk, now=now + dt.timedelta(seconds=1))
    assert exc.value.code == "drop_already_open"


def test_close_now_then_reopen_for_the_planned_length(live):
    session, a, _, later = live
    now = timezone.now()
    services.control_close_drop(session_id=session.pk, drop_id=a.pk, now=now)
    a.refresh_from_db()
    assert a.closes_at == now and a.state_at(now) == Drop.State.CLOSED
    [closed] = moments(session, SessionMoment.Kind.DROP_CLOSED)
    assert (closed.at, closed.drop_id) == (now, a.pk)
    with pytest.raises(ControlError) as exc:
        services.control_close_drop(session_id=session.pk, drop_id=a.pk, now=now + dt.timedelta(seconds=1))
    assert exc.value.code == "drop_already_closed"
    # re-opened until the session's planned end, at least REOPEN_MINUTES; the opening instant unchanged
    opened_at = a.opens_at
    LiveSession.objects.filter(pk=session.pk).update(starts_at=now - dt.timedelta(minutes=5), duration_seconds=3600)
    later_now = now + dt.timedelta(seconds=30)
    services.control_open_drop(session_id=session.pk, drop_id=a.pk, now=later_now)
    a.refresh_from_db()
    assert (a.opens_at, a.closes_at) == (opened_at, now + dt.timedelta(minutes=55))
    assert a.state_at(later_now) == Drop.State.LIVE
    # a show running over its planned end: re-opened for REOPEN_MINUTES
    services.control_close_drop(session_id=session.pk, drop_id=a.pk, now=later_now + dt.timedelta(minutes=1))
    at = later_now + dt.timedelta(hours=3)
    services.control_open_drop(session_id=session.pk, drop_id=a.pk, now=at)
    a.refresh_from_db()
    assert a.closes_at == at + dt.timedelta(minutes=services.REOPEN_MINUTES)
    # a drop that has not opened cannot be closed (its window would be empty)
    with pytest.raises(ControlError) as exc:
        services.control_close_drop(session_id=session.pk, drop_id=later.pk, now=now)
    assert exc.value.code == "drop_not_open"


def test_a_closed_drop_refuses_holds_at_once(live):
    from commerce.exceptions import DropUnavailable

    session, a, _, _ = live
    services.control_close_drop(session_id=session.pk, drop_id=a.pk)
    with pytest.raises(DropUnavailable):
        hold_place(drop_id=a.pk, email="late@example.com", quantity=1)


def test_flash_coupon_is_scoped_capped_timed_and_recorded(live):
    session, a, _, _ = live
    now = timezone.now()
    coupon = services.flash_coupon_fire(session_id=session.pk, percent_off=20, minutes=5, max_redemptions=3, now=now)
    assert coupon.code.startswith("FLASH-") and coupon.session_id == session.pk and coupon.customer_id is None
    assert (coupon.kind, coupon.percent_off, coupon.max_redemptions) == ("percent", 20, 3)
    assert (coupon.valid_from, coupon.valid_until) == (now, now + dt.timedelta(minutes=5))
    [fired] = moments(session, SessionMoment.Kind.COUPON_FIRED)
    assert fired.at == now and coupon.code in fired.note
    assert LogEntry.objects.get_for_object(coupon).filter(action=LogEntry.Action.CREATE).exists()
    # it works at checkout through the normal coupon flow
    order = order_place(drop_id=a.pk, email="ann@example.com", quantity=1, coupon_code=coupon.code.lower())
    assert order.discount_minor == 400
    # a second one ends the first
    second = services.flash_coupon_fire(session_id=session.pk, percent_off=10, minutes=2, max_redemptions=1, now=now)
    coupon.refresh_from_db()
    assert not coupon.is_active and second.is_active


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"percent_off": 0, "minutes": 5, "max_redemptions": 1}, "percent_off"),
        ({"percent_off": 91, "minutes": 5, "max_redemptions": 1}, "percent_off"),
        ({"percent_off": 10, "minutes": 0, "max_redemptions": 1}, "minutes"),
        ({"percent_off": 10, "minutes": 121, "max_redemptions": 1}, "minutes"),
        ({"percent_off": 10, "minutes": 5, "max_redemptions": 0}, "max_redemptions"),
        ({"percent_off": "10", "minutes": 5, "max_redemptions": 1}, "percent_off"),
    ],
)
def test_flash_coupon_input_is_validated_and_nothing_is_written(live, fields, bad):
    session = live[0]
    with pytest.raises(ControlError) as exc:
        services.flash_coupon_fire(session_id=session.pk, **fields)
    assert (exc.value.code, exc.value.status, exc.value.field) == ("invalid", 422, bad)
    assert not Coupon.objects.exists() and not SessionMoment.objects.filter(kind="coupon_fired").exists()


def test_flash_coupon_needs_a_selling_session():
    session = LiveSessionFactory(status="scheduled", starts_at=timezone.now() + dt.timedelta(hours=1))
    with pytest.raises(ControlError) as exc:
        services.flash_coupon_fire(session_id=session.pk, percent_off=10, minutes=5, max_redemptions=5)
    assert exc.value.code == "session_not_selling"


def test_actions_drop_the_viewers_caches_after_commit(live, django_capture_on_commit_callbacks):
    session, a, _, _ = live
    for key in (f"session-status:{session.public_id}", f"session-page:{session.public_id}"):
        cache.set(key, "stale")
    with django_capture_on_commit_callbacks(execute=True):
        services.control_pin_drop(session_id=session.pk, drop_id=a.pk)
    assert cache.get(f"session-status:{session.public_id}") is None
    assert cache.get(f"session-page:{session.public_id}") is None


def test_go_live_and_end_wrap_the_session_services(live):
    session = LiveSessionFactory(status="scheduled")
    services.control_go_live(session_id=session.pk)
    with pytest.raises(ControlError) as exc:
        services.control_go_live(session_id=session.pk)
    assert exc.value.code == "invalid_transition"
    services.control_end(session_id=session.pk)
    assert [m.kind for m in SessionMoment.objects.filter(session=session).order_by("at")] == ["went_live", "ended"]


# --- counters ------------------------------------------------------------------------------------------


def test_counters_add_up_holds_orders_revenue_stock_and_redemptions(live, django_assert_num_queries):
    session, a, b, later = live
    now = timezone.now()
    coupon = services.flash_coupon_fire(session_id=session.pk, percent_off=10, minutes=5, max_redemptions=4, now=now)
    paid = order_place(drop_id=a.pk, email="p1@example.com", quantity=2, coupon_code=coupon.code)  # 4000 − 400
    order_mark_paid(order_id=paid.pk)
    order_mark_paid(order_id=order_place(drop_id=b.pk, email="p2@example.com", quantity=1).pk)  # 3000
    order_place(drop_id=a.pk, email="unpaid@example.com", quantity=1)  # awaiting payment: not revenue
    hold_place(drop_id=b.pk, email="h1@example.com", quantity=2)
    lapsed = hold_place(drop_id=a.pk, email="h2@example.com", quantity=3)
    Hold.objects.filter(pk=lapsed.pk).update(expires_at=now - dt.timedelta(seconds=1))  # lapsed, not swept yet
    other_session_drop = make_drop(quantity=5)
    order_mark_paid(order_id=order_place(drop_id=other_session_drop.pk, email="x@example.com", quantity=1).pk)
    for vid in ("a" * 32, "b" * 32):
        watch_poll_record(session_id=session.pk, session_status="live", visitor_id=vid, now=now)
    services.control_pin_drop(session_id=session.pk, drop_id=b.pk, now=now)

    with django_assert_num_queries(6 if watch_buffer_in_use() else 7):  # viewers now: Redis, or one query
        data = control_room_counters(session.pk, now + dt.timedelta(seconds=1))

    assert data["viewers_now"] == 2
    assert data["holds"] == {"count": 1, "units": 2}
    assert data["orders"] == {"paid": 2}
    assert data["revenue"] == [{"amount_minor": 3600 + 3000, "currency": a.currency}]
    stock = {d["id"]: (d["available"], d["quantity"], d["state"], d["pinned"]) for d in data["drops"]}
    # A: 10 − 2 paid − 1 awaiting (the lapsed hold of 3 counts as free again)
    assert stock[a.pk] == (7, 10, "live", False)
    assert stock[b.pk] == (2, 5, "live", True)
    windows = {d["id"]: (d["window"], d["state_label"]) for d in data["drops"]}
    assert windows == {a.pk: ("open", "Live"), b.pk: ("open", "Live"), later.pk: ("not_yet_open", "Opens soon")}
    flash = data["flash_coupon"]
    assert (flash["code"], flash["redemptions"], flash["remaining"], flash["active"]) == (coupon.code, 1, 3, True)
    assert 298 <= flash["seconds_left"] <= 300
    kinds = [m["kind"] for m in data["timeline"]]
    assert kinds[:2] == ["drop_pinned", "coupon_fired"]  # newest first
    assert data["timeline"][0]["at_local"].endswith(("CET", "CEST"))


# --- the staff page ---------------------------------------------------------------------------------------


def url(session, suffix=""):
    return f"/admin/sessions_app/livesession/{session.pk}/control/{suffix}"


def test_the_host_runs_the_show_from_the_page(client, live):
    session, a, b, later = live
    host = make_staff("host", role="host")
    client.force_login(host)
    page = client.get(url(session))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Ring A" in body and "Fire flash coupon" in body and "End session" in body
    assert client.post(url(session), {"action": "pin", "drop_id": b.pk}).status_code == 302
    assert client.post(url(session), {"action": "open", "drop_id": later.pk}).status_code == 302
    assert client.post(url(session), {"action": "close", "drop_id": a.pk}).status_code == 302
    fired = client.post(
        url(session), {"action": "flash", "flash-percent_off": 15, "flash-minutes": 5, "flash-max_redemptions": 10}
    )
    assert fired.status_code == 302
    session.refresh_from_db()
    assert session.pinned_drop_id == b.pk
    assert Coupon.objects.get(session=session).percent_off == 15
    kinds = set(SessionMoment.objects.filter(session=session).values_list("kind", flat=True))
    assert {"drop_pinned", "drop_opened", "drop_closed", "coupon_fired"} <= kinds
    history = AdminLogEntry.objects.filter(object_id=str(session.pk), user=host).values_list(
        "change_message", flat=True
    )
    assert len(history) == 4 and all(m.startswith("Control room:") for m in history)
    counters = client.get(url(session, "counters.json"))
    assert counters.status_code == 200 and "no-store" in counters["Cache-Control"]
    assert counters.json()["session"]["pinned_drop_id"] == b.pk


def test_a_bad_flash_coupon_is_a_form_error_and_nothing_is_written(client, live):
    session = live[0]
    client.force_login(make_staff("host", role="host"))
    response = client.post(
        url(session), {"action": "flash", "flash-percent_off": 95, "flash-minutes": 5, "flash-max_redemptions": 1}
    )
    assert response.status_code == 200
    assert "less than or equal to 90" in response.content.decode()
    assert not Coupon.objects.exists()


def test_a_finished_session_answers_with_a_message_not_an_error(client, live):
    session, a, _, _ = live
    LiveSession.objects.filter(pk=session.pk).update(status="ended")
    client.force_login(make_staff("host", role="host"))
    response = client.post(url(session), {"action": "pin", "drop_id": a.pk}, follow=True)
    assert response.status_code == 200 and "can no longer change" in response.content.decode()


@pytest.mark.parametrize(
    ("action", "data", "perm"),
    [
        ("go_live", {}, "sessions_app.golive_livesession"),
        ("end", {}, "sessions_app.golive_livesession"),
        ("pin", {"drop_id": "A"}, "commerce.change_drop"),
        ("open", {"drop_id": "LATER"}, "commerce.change_drop"),
        ("close", {"drop_id": "A"}, "commerce.change_drop"),
        ("flash", {"flash-percent_off": 10, "flash-minutes": 5, "flash-max_redemptions": 5}, "commerce.add_coupon"),
    ],
)
def test_each_action_needs_its_own_permission(client, live, action, data, perm):
    session, a, _, later = live
    data = {k: {"A": a.pk, "LATER": later.pk}.get(v, v) for k, v in data.items()}
    watcher = make_staff("watcher", perms=("sessions_app.control_livesession",))
    client.force_login(watcher)
    page = client.get(url(session))
    assert page.status_code == 200 and "Viewers now" in page.content.decode()  # counters, but no buttons
    assert "Fire flash coupon" not in page.content.decode()
    before = (list(Drop.objects.values_list("pk", "opens_at", "closes_at")), Coupon.objects.count())
    assert client.post(url(session), {"action": action, **data}).status_code == 403
    session.refresh_from_db()
    assert (session.status, session.pinned_drop_id) == ("live", None)
    assert (list(Drop.objects.values_list("pk", "opens_at", "closes_at")), Coupon.objects.count()) == before
    assert not SessionMoment.objects.filter(session=session).exists()
    # with the permission the same request runs
    client.force_login(make_staff("doer", perms=("sessions_app.control_livesession", perm)))
    assert client.post(url(session), {"action": action, **data}).status_code == 302
    assert SessionMoment.objects.filter(session=session).exists() or action == "go_live"


def test_staff_without_the_control_permission_cannot_open_the_page_or_counters(client, live):
    session = live[0]
    client.force_login(make_staff("viewer", perms=("sessions_app.view_livesession",)))
    assert client.get(url(session)).status_code == 403
    assert client.get(url(session, "counters.json")).status_code == 403
    client.logout()
    assert client.get(url(session)).status_code == 302  # to the admin login


def test_the_admin_links_to_the_control_room(client, live):
    session = live[0]
    client.force_login(make_staff("host", role="host"))
    assert url(session) in client.get("/admin/sessions_app/livesession/").content.decode()
    assert url(session) in client.get(f"/admin/sessions_app/livesession/{session.pk}/change/").content.decode()


# --- the viewer's page --------------------------------------------------------------------------------------


def test_status_json_carries_the_pin_and_the_running_flash_coupon(client, live, django_capture_on_commit_callbacks):
    session, a, b, _ = live
    status_url = f"/s/{session.public_id}/status.json"
    first = client.get(status_url).json()
    assert first["pinned_drop_id"] is None and first["flash_coupon"] is None
    with django_capture_on_commit_callbacks(execute=True):
        services.control_pin_drop(session_id=session.pk, drop_id=b.pk)
        coupon = services.flash_coupon_fire(session_id=session.pk, percent_off=25, minutes=3, max_redemptions=2)
    data = client.get(status_url).json()  # the cache was dropped: no wait for it to go stale
    assert data["pinned_drop_id"] == b.pk
    assert data["flash_coupon"] == {
        "code": coupon.code,
        "percent_off": 25.0,
        "ends_at": coupon.valid_until.isoformat(),
        "remaining": 2,
    }
    # an exhausted or ended coupon is not shown
    Coupon.objects.filter(pk=coupon.pk).update(redemptions=2)
    cache.clear()
    assert client.get(status_url).json()["flash_coupon"] is None


def test_session_page_features_the_pinned_drop_first_and_shows_the_banner(client, live):
    session, a, b, _ = live
    services.control_pin_drop(session_id=session.pk, drop_id=b.pk)
    coupon = services.flash_coupon_fire(session_id=session.pk, percent_off=30, minutes=3, max_redemptions=5)
    cache.clear()
    body = client.get(f"/s/{session.public_id}/").content.decode()
    assert body.index(f'data-drop="{b.pk}"') < body.index(f'data-drop="{a.pk}"')
    assert 'class="card drop pinned"' in body and "Pinned by the host" in body
    assert coupon.code in body and 'data-poll-ms="1500"' in body


# --- the API --------------------------------------------------------------------------------------------


@pytest.fixture
def shop_key():
    partner = Partner.objects.create(name="Shop studio app")
    return {"X-API-Key": api_key_create(partner=partner, name="studio", scopes=["sessions:control", "shop"])[1]}


def test_api_runs_the_show_with_idempotency(client, live, shop_key):
    session, a, b, later = live
    base = f"/api/v1/sessions/{session.public_id}"
    pin = client.post(f"{base}/pin", {"drop_id": b.pk}, content_type="application/json", headers=shop_key)
    assert pin.status_code == 200 and pin.json()["pinned_drop_id"] == b.pk
    opened = client.post(f"{base}/drops/{later.pk}/open", headers=shop_key)
    assert opened.status_code == 200
    again = client.post(f"{base}/drops/{later.pk}/open", headers=shop_key)
    assert (again.status_code, again.json()["code"]) == (409, "drop_already_open")
    body = {"percent_off": 20, "minutes": 10, "max_redemptions": 50}
    headers = {**shop_key, "Idempotency-Key": "flash-1"}
    first = client.post(f"{base}/flash-coupons", body, content_type="application/json", headers=headers)
    replay = client.post(f"{base}/flash-coupons", body, content_type="application/json", headers=headers)
    assert first.status_code == replay.status_code == 201
    assert first.json() == replay.json() and Coupon.objects.count() == 1
    bad = client.post(
        f"{base}/flash-coupons", {**body, "percent_off": 99}, content_type="application/json", headers=shop_key
    )
    assert bad.status_code == 422 and "percent_off" in bad.json()["fields"]
    foreign = make_drop(title="Other")
    assert client.post(f"{base}/drops/{foreign.pk}/close", headers=shop_key).json()["code"] == "drop_not_in_session"
    data = client.get(f"{base}/control", headers=shop_key).json()
    assert data["session"]["pinned_drop_id"] == b.pk and data["flash_coupon"]["max_redemptions"] == 50
    assert {m["kind"] for m in data["timeline"]} >= {"drop_pinned", "drop_opened", "coupon_fired"}
    assert client.post(f"{base}/end", headers=shop_key).json()["status"] == "ended"


def test_api_refuses_keys_without_the_shop_scope(client, live):
    session = live[0]
    partner = Partner.objects.create(name="Affiliate")
    key = {"X-API-Key": api_key_create(partner=partner, name="k", scopes=[s for s in ApiKey.SCOPES if s != "shop"])[1]}
    response = client.post(f"/api/v1/sessions/{session.public_id}/go-live", headers=key)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert client.get(f"/api/v1/sessions/{session.public_id}/control", headers=key).status_code == 403
    assert not Order.objects.exists()


def test_api_actions_name_the_calling_partner_in_the_timeline_and_the_audit_log(client, live, shop_key):
    """QA: actions through the API were recorded with no actor (the host's say "by host1")."""

    session, a, b, _ = live
    base = f"/api/v1/sessions/{session.public_id}"
    client.post(f"{base}/pin", {"drop_id": b.pk}, content_type="application/json", headers=shop_key)
    body = {"percent_off": 20, "minutes": 10, "max_redemptions": 50}
    client.post(f"{base}/flash-coupons", body, content_type="application/json", headers=shop_key)
    notes = list(SessionMoment.objects.filter(session=session).values_list("kind", "note"))
    assert ("drop_pinned", f"{b.display_title} (by partner:Shop studio app)") in notes
    assert any(kind == "coupon_fired" and note.endswith("(by partner:Shop studio app)") for kind, note in notes)
    coupon = Coupon.objects.get()
    entry = LogEntry.objects.get_for_object(coupon).get()
    assert entry.actor_email == "partner API (partner:Shop studio app)"


def test_an_ended_sessions_room_shows_no_drop_buttons(client, live):
    """QA: after End the drop buttons stayed (each press was refused with a message)."""
    session, a, b, later = live
    client.force_login(make_staff("host", role="host"))
    assert "data-cr-pin>" in client.get(url(session)).content.decode()
    services.control_end(session_id=session.pk)
    body = client.get(url(session)).content.decode()
    assert "Ring A" in body  # the drops and their figures stay
    assert "data-cr-pin>" not in body and "data-cr-close>" not in body and "data-cr-open>" not in body
