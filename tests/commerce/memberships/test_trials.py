"""Refundable trials (docs/trials.md): the window, the buyer's request, staff receipt and exactly one refund."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.exceptions import ErrorCode
from commerce.memberships.services_trials import (
    TrialNotReturnable,
    TrialWindowClosed,
    trial_return_receive,
    trial_return_request,
)
from commerce.models import Drop, Order, Refund, Sku, TrialReturn
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from commerce.services.outbox import outbox_drain
from commerce.services.refunds import refund_create
from tests.commerce.memberships.trial_support import paid_trial_order, trial_drop
from tests.factories import make_drop, make_staff

pytestmark = pytest.mark.django_db


def _line(order):
    return order.lines.get()


def test_checkout_copies_the_skus_trial_days_onto_the_line():
    drop = trial_drop(days=14)
    order = checkout_start(hold_token=hold_place(drop_id=drop.pk, email="a@example.com", quantity=1).token)
    assert _line(order).trial_days == 14
    plain = make_drop()
    other = checkout_start(hold_token=hold_place(drop_id=plain.pk, email="b@example.com", quantity=1).token)
    assert _line(other).trial_days is None


def test_a_return_inside_the_window_is_requested_once():
    paid_at = timezone.now() - dt.timedelta(days=13)
    order = paid_trial_order(days=14, now=paid_at)
    line = _line(order)
    first = trial_return_request(order_id=order.pk, line_id=line.pk, reason="Too small")
    again = trial_return_request(order_id=order.pk, line_id=line.pk, reason="again")
    assert first.pk == again.pk and TrialReturn.objects.count() == 1
    assert first.status == TrialReturn.Status.REQUESTED
    assert first.window_ends_at == paid_at + dt.timedelta(days=14)


def test_after_the_window_the_sale_is_final():
    paid_at = timezone.now() - dt.timedelta(days=14, seconds=1)
    order = paid_trial_order(days=14, now=paid_at)
    with pytest.raises(TrialWindowClosed) as caught:
        trial_return_request(order_id=order.pk, line_id=_line(order).pk)
    assert caught.value.code == ErrorCode.TRIAL_WINDOW_CLOSED
    assert not TrialReturn.objects.exists()


def test_a_line_that_is_not_a_trial_or_an_unpaid_order_cannot_be_returned():
    plain = make_drop()
    order = checkout_start(hold_token=hold_place(drop_id=plain.pk, email="a@example.com", quantity=1).token)
    with pytest.raises(TrialNotReturnable):
        trial_return_request(order_id=order.pk, line_id=_line(order).pk)
    unpaid = checkout_start(hold_token=hold_place(drop_id=trial_drop().pk, email="b@example.com", quantity=1).token)
    assert unpaid.status == Order.Status.AWAITING_PAYMENT
    with pytest.raises(TrialNotReturnable):
        trial_return_request(order_id=unpaid.pk, line_id=_line(unpaid).pk)


def test_receiving_refunds_the_line_once_through_the_provider_and_stocks_the_warehouse_not_the_drop():
    # given a requested return of a paid trial line
    order = paid_trial_order(days=14)
    line = _line(order)
    drop_available = Drop.objects.get(pk=line.drop_id).available
    tr = trial_return_request(order_id=order.pk, line_id=line.pk)
    staff = make_staff("support", perms=("commerce.receive_trialreturn",))
    # when staff mark it received, twice
    first = trial_return_receive(trial_return_id=tr.pk, actor=staff)
    second = trial_return_receive(trial_return_id=tr.pk, actor=staff)
    # then only the first call made the transition
    assert (first.outcome, first.changed) == ("received", True)
    assert (second.outcome, second.changed) == ("already_received", False)
    first, second = first.trial_return, second.trial_return
    outbox_drain()  # the refund is submitted to the provider after commit
    # then exactly one refund of the line went through the provider; the order is refunded
    assert first.refund_id == second.refund_id and Refund.objects.filter(order=order).count() == 1
    refund = Refund.objects.get(order=order)
    assert refund.status == Refund.Status.SUCCEEDED and refund.amount_minor == line.total_minor
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and order.refunded_minor == order.total_minor
    tr.refresh_from_db()
    assert tr.status == TrialReturn.Status.RECEIVED and tr.received_by_id == staff.pk and tr.received_at
    # the unit went back to the warehouse, not to the drop
    assert Sku.objects.get(pk=line.sku_id).inventory == 11
    assert Drop.objects.get(pk=line.drop_id).available == drop_available
    assert refund.restocked_units == 0


def test_order_page_offers_the_return_inside_the_window_and_says_final_after(client):
    order = paid_trial_order(days=14, now=timezone.now() - dt.timedelta(days=2))
    page = client.get(f"/orders/{order.token}/").content.decode()
    assert "Return this trial" in page and "sale is final" not in page
    response = client.post(f"/orders/{order.token}/lines/{_line(order).pk}/trial-return/", {"reason": "meh"})
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.token}/"
    assert TrialReturn.objects.get().reason == "meh"
    assert "Return requested" in client.get(f"/orders/{order.token}/").content.decode()

    old = paid_trial_order(days=14, email="old@example.com", now=timezone.now() - dt.timedelta(days=20))
    page = client.get(f"/orders/{old.token}/").content.decode()
    assert "Return this trial" not in page and "sale is final" in page
    response = client.post(f"/orders/{old.token}/lines/{_line(old).pk}/trial-return/", follow=True)
    assert "The trial window has ended" in response.content.decode()
    assert TrialReturn.objects.count() == 1


def test_the_return_link_needs_the_orders_own_token_and_line(client):
    order = paid_trial_order(days=14)
    other = paid_trial_order(days=14, email="bob@example.com")
    assert client.post(f"/orders/not-a-token/lines/{_line(order).pk}/trial-return/").status_code == 404
    assert client.post(f"/orders/{other.token}/lines/{_line(order).pk}/trial-return/").status_code == 404
    assert client.get(f"/orders/{order.token}/lines/{_line(order).pk}/trial-return/").status_code == 405
    assert not TrialReturn.objects.exists()


def test_the_admin_action_refunds_for_staff_with_the_permission(client):
    order = paid_trial_order(days=14)
    tr = trial_return_request(order_id=order.pk, line_id=_line(order).pk)
    staff = make_staff("support", role="support")
    client.force_login(staff)
    response = client.post(
        "/admin/commerce/trialreturn/",
        {"action": "mark_received_and_refund", "_selected_action": [tr.pk], "index": 0},
        follow=True,
    )
    assert "1 return(s) received and refunded" in response.content.decode()
    assert Refund.objects.filter(order=order).count() == 1
    client.post(
        "/admin/commerce/trialreturn/", {"action": "mark_received_and_refund", "_selected_action": [tr.pk], "index": 0}
    )
    assert Refund.objects.filter(order=order).count() == 1


def test_with_stripe_the_refund_goes_to_stripe_once(client, stripe_api, webhook):
    drop = trial_drop(days=14)
    order = checkout_start(hold_token=hold_place(drop_id=drop.pk, email="s@example.com", quantity=1).token)
    assert webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed") == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    tr = trial_return_request(order_id=order.pk, line_id=_line(order).pk)
    trial_return_receive(trial_return_id=tr.pk)
    trial_return_receive(trial_return_id=tr.pk)
    outbox_drain()
    outbox_drain()
    assert [p for m, p, _ in stripe_api.requests if m == "POST"].count("/v1/refunds") == 1
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED


def test_a_return_whose_order_was_refunded_meanwhile_is_closed_as_withdrawn(client):
    # given a requested return, then the whole order refunded from the refund page before the item arrives
    order = paid_trial_order(days=14)
    tr = trial_return_request(order_id=order.pk, line_id=_line(order).pk)
    refund_create(order_id=order.pk)
    outbox_drain()
    inventory = Sku.objects.get(pk=_line(order).sku_id).inventory
    # when staff mark it received
    client.force_login(make_staff("support", role="support"))
    response = client.post(
        "/admin/commerce/trialreturn/",
        {"action": "mark_received_and_refund", "_selected_action": [tr.pk], "index": 0},
        follow=True,
    )
    # then it is closed as withdrawn with a clear message, no second refund, no unit counted back
    page = response.content.decode()
    assert "the return is closed as withdrawn" in page and "units left to refund" not in page
    assert "received and refunded" not in page
    tr.refresh_from_db()
    assert tr.status == TrialReturn.Status.CANCELLED and tr.refund_id is None
    assert Refund.objects.filter(order=order).count() == 1
    assert Sku.objects.get(pk=_line(order).sku_id).inventory == inventory
    # and a later click says it was withdrawn instead of refunding
    with pytest.raises(TrialNotReturnable):
        trial_return_receive(trial_return_id=tr.pk)


def test_the_service_says_cancelled_when_a_pending_refund_already_covers_the_line():
    # given a requested return and a refund of the line still pending at the provider
    order = paid_trial_order(days=14)
    line = _line(order)
    tr = trial_return_request(order_id=order.pk, line_id=line.pk)
    refund_create(order_id=order.pk, lines={line.pk: 1})
    # when staff receive it
    receipt = trial_return_receive(trial_return_id=tr.pk)
    # then this call closed it (changed, for the audit), without a refund
    assert (receipt.outcome, receipt.changed) == ("cancelled", True)
    assert receipt.trial_return.status == TrialReturn.Status.CANCELLED
    assert Refund.objects.filter(order=order).count() == 1


def test_a_partner_reads_the_line_id_and_trial_window_from_the_order_then_asks_for_the_return(client):
    # given a paid trial order placed through a partner's key
    from commerce.models import Partner
    from commerce.services.api_keys import api_key_create
    from commerce.services.orders import order_mark_paid
    from tests.commerce.memberships.trial_support import trial_drop

    partner = Partner.objects.create(name="Shop A")
    auth = {"X-API-Key": api_key_create(partner=partner, name="k", scopes=["orders:read", "trials:write"])[1]}
    hold = hold_place(drop_id=trial_drop(days=14).pk, email="p@example.com", quantity=1, partner_id=partner.pk)
    paid_at = (timezone.now() - dt.timedelta(days=1)).replace(microsecond=0)
    order = order_mark_paid(order_id=checkout_start(hold_token=hold.token).pk, now=paid_at)
    # when it reads the order
    body = client.get(f"/api/v1/orders/{order.number}", headers=auth).json()
    # then each line carries its id, its trial days and the window's end
    [line] = body["lines"]
    assert line["id"] == _line(order).pk and line["trial_days"] == 14
    assert dt.datetime.fromisoformat(line["trial_window_ends_at"]) == paid_at + dt.timedelta(days=14)
    # and that id is the one the trial-return endpoint takes
    response = client.post(
        f"/api/v1/orders/{order.number}/lines/{line['id']}/trial-return",
        {"reason": "too big"},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201 and response.json()["line_id"] == line["id"]
    assert TrialReturn.objects.get().order_line_id == line["id"]


def test_the_trial_is_disclosed_before_purchase_on_the_checkout_and_the_session_page(client):
    # given a live session selling a 14-day trial SKU and a plain SKU
    drop = trial_drop(days=14)
    plain = make_drop(session=drop.session)
    # when a buyer opens the drop's checkout and the session page
    checkout = client.get(f"/drops/{drop.pk}/checkout/").content.decode()
    plain_checkout = client.get(f"/drops/{plain.pk}/checkout/").content.decode()
    session_page = client.get(drop.session.get_absolute_url()).content.decode()
    # then the trial says so before the buyer pays, the plain drop does not, and without inline styles
    assert "14-day refundable trial" in checkout and 'data-trial-days="14"' in checkout
    assert "refundable trial" not in plain_checkout
    assert session_page.count("14-day refundable trial") == 1
    assert "style=" not in session_page.split('data-trial-days="14"')[1].split("</p>")[0]
