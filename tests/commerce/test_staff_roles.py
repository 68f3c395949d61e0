"""Roles: groups made by the migration with the least permissions each needs, and what each role can do."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from commerce.models import ApiKey, Order, PickupBooking
from commerce.services.orders import order_mark_paid, order_place
from commerce.staff_roles import ROLES, _catalog, role_permissions, roles_sync
from tests.factories import make_drop, make_pickup_drop, make_slot, make_staff

pytestmark = pytest.mark.django_db


def group_perms(name: str) -> set[str]:
    return {
        f"{app}.{code}"
        for app, code in Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename")
    }


def test_the_migration_made_every_role_with_exactly_its_permissions():
    from django.apps import apps

    catalog = _catalog(apps)
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    for role in ROLES:
        assert group_perms(role) == set(role_permissions(role, catalog)), role
    # least privilege where it matters
    assert "commerce.refund_order" not in group_perms("fulfilment")
    assert "commerce.checkin_pickupbooking" in group_perms("fulfilment")
    assert not {p for p in group_perms("analyst") if p.startswith("commerce.") and not p.startswith("commerce.view_")}
    assert "commerce.delete_order" not in group_perms("owner")
    assert not any(p.startswith(("auth.", "djstripe.", "django_q.")) for role in ROLES for p in group_perms(role))


def test_roles_sync_is_safe_to_rerun_and_restores_the_definition():
    fulfilment = Group.objects.get(name="fulfilment")
    fulfilment.permissions.add(Permission.objects.get(codename="refund_order"))  # someone widened it by hand
    fulfilment.permissions.remove(Permission.objects.get(codename="checkin_pickupbooking"))
    permissions_before = Permission.objects.count()

    first = roles_sync()
    second = roles_sync()

    assert first == second
    assert "commerce.refund_order" not in group_perms("fulfilment")
    assert "commerce.checkin_pickupbooking" in group_perms("fulfilment")
    assert Group.objects.filter(name__in=ROLES).count() == len(ROLES)
    assert Permission.objects.count() == permissions_before


def test_fulfilment_checks_in_at_the_door_but_cannot_refund(client, django_capture_on_commit_callbacks):
    drop = make_pickup_drop(quantity=5, per_customer_limit=2)
    slot = make_slot(drop.popup)
    from commerce.services.holds import hold_place
    from commerce.services.orders import checkout_start

    hold = hold_place(drop_id=drop.pk, email="pick@example.com", quantity=1, pickup_slot_id=slot.pk)
    order = checkout_start(hold_token=hold.token)
    door = make_staff("door", role="fulfilment")
    client.force_login(door)

    response = client.post("/pickup/staff/checkin/", {"code": order.number, "payment_collected": "1"})

    assert response.status_code == 200
    booking = PickupBooking.objects.get(order=order)
    assert booking.checked_in_by == door
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(
            "/admin/commerce/order/", {"action": "refund_full", "_selected_action": [order.pk], "index": 0}
        )
    assert refused.status_code in (200, 302)
    assert not order.refunds.exists()
    assert client.get(f"/admin/commerce/refund/add/?order={order.pk}").status_code == 403


def test_analyst_sees_dashboards_and_exports_but_cannot_change_orders(client):
    drop = make_drop(quantity=5)
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    client.force_login(make_staff("analyst", role="analyst"))

    assert client.get("/admin/analytics/sessionkpis/dashboards/").status_code == 200
    csv = client.get("/admin/analytics/sessionkpis/dashboards/", {"csv": "sessions"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    client.post("/admin/commerce/order/", {"action": "mark_paid", "_selected_action": [order.pk], "index": 0})
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT
    page = client.get(f"/admin/commerce/order/{order.pk}/change/").content.decode()
    assert 'name="_save"' not in page  # read-only


def test_dashboard_viewer_without_export_permission_gets_no_csv(client):
    client.force_login(make_staff("viewer", perms=("analytics.view_dashboards",)))
    assert client.get("/admin/analytics/sessionkpis/dashboards/").status_code == 200
    assert client.get("/admin/analytics/sessionkpis/dashboards/", {"csv": "sessions"}).status_code == 403


def test_host_runs_the_session_but_support_cannot_and_support_refunds(client, django_capture_on_commit_callbacks):
    drop = make_drop(quantity=5, price_minor=1000)
    session = drop.session
    session.status = "scheduled"
    session.presale_opens_at = session.starts_at  # a scheduled session sells only in its pre-sale window
    session.save(update_fields=["status", "presale_opens_at"])
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    order_mark_paid(order_id=order.pk)

    client.force_login(make_staff("support", role="support"))
    client.post("/admin/sessions_app/livesession/", {"action": "go_live", "_selected_action": [session.pk], "index": 0})
    session.refresh_from_db()
    assert session.status == "scheduled"
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/commerce/order/", {"action": "refund_full", "_selected_action": [order.pk], "index": 0})
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED

    client.force_login(make_staff("host", role="host"))
    client.post("/admin/sessions_app/livesession/", {"action": "go_live", "_selected_action": [session.pk], "index": 0})
    session.refresh_from_db()
    assert session.status == "live"
    assert client.get("/admin/analytics/sessionkpis/dashboards/").status_code == 403


def test_only_the_owner_revokes_api_keys_and_nobody_deletes_orders(client):
    from commerce.models import Partner
    from commerce.services.api_keys import api_key_create

    key, _raw = api_key_create(partner=Partner.objects.create(name="BI"), name="bi")
    drop = make_drop(quantity=5)
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    for role in ("support", "host", "fulfilment", "analyst"):
        client.force_login(make_staff(role, role=role))
        client.post("/admin/commerce/apikey/", {"action": "revoke", "_selected_action": [key.pk], "index": 0})
        assert ApiKey.objects.get(pk=key.pk).revoked_at is None, role
    owner = make_staff("owner", role="owner")
    client.force_login(owner)
    assert client.post(f"/admin/commerce/order/{order.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
    client.post("/admin/commerce/apikey/", {"action": "revoke", "_selected_action": [key.pk], "index": 0})
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert client.get("/admin/djstripe/").status_code in (403, 404)
