"""Trial returns under real concurrency on PostgreSQL: two staff clicking "Mark received and refund" at once
refund exactly once; many requests for the same line make one TrialReturn."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from commerce.memberships.services_trials import trial_return_receive, trial_return_request
from commerce.models import Refund, Sku, TrialReturn
from commerce.services.outbox import outbox_drain
from tests.commerce.memberships.trial_support import paid_trial_order
from tests.commerce.test_races import race
from tests.factories import make_staff

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_staff_receiving_the_same_return_at_once_refund_exactly_once():
    # given a requested return of a paid trial line
    order = paid_trial_order(days=14)
    line = order.lines.get()
    tr = trial_return_request(order_id=order.pk, line_id=line.pk)
    # when 12 staff clicks race
    results = race(12, lambda i: trial_return_receive(trial_return_id=tr.pk))
    assert not [r for r in results if isinstance(r, Exception)], results
    outbox_drain()
    # then one refund, for the line, succeeded once; the warehouse got the unit back once
    [refund] = Refund.objects.filter(order=order)
    assert refund.status == Refund.Status.SUCCEEDED and refund.amount_minor == line.total_minor
    assert {r.trial_return.refund_id for r in results} == {refund.pk}
    # and exactly one call says it made the transition; the others say it was already received
    assert sorted(r.outcome for r in results) == ["already_received"] * (len(results) - 1) + ["received"]
    assert Sku.objects.get(pk=line.sku_id).inventory == 11
    order.refresh_from_db()
    assert order.refunded_minor == order.total_minor


def test_buyers_double_clicking_make_one_return_request():
    order = paid_trial_order(days=14)
    line = order.lines.get()
    results = race(12, lambda i: trial_return_request(order_id=order.pk, line_id=line.pk))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert TrialReturn.objects.count() == 1 and {r.pk for r in results} == {TrialReturn.objects.get().pk}


def test_staff_racing_the_admin_action_are_told_once_received_and_audited_once():
    # given a requested return and 8 support staff, each logged in on their own client
    order = paid_trial_order(days=14)
    tr = trial_return_request(order_id=order.pk, line_id=order.lines.get().pk)
    clients = []
    for i in range(8):
        client = Client()
        client.force_login(make_staff(f"support{i}", role="support"))
        clients.append(client)

    def click(i):
        response = clients[i].post(
            "/admin/commerce/trialreturn/",
            {"action": "mark_received_and_refund", "_selected_action": [tr.pk], "index": 0},
            follow=True,
        )
        return response.content.decode()

    # when all 8 click "Mark received and refund" at once
    pages = race(8, click)
    assert not [p for p in pages if isinstance(p, Exception)], pages
    # then one refund, one click told "received and refunded", the 7 others "already received"
    assert Refund.objects.filter(order=order).count() == 1
    assert sum("1 return(s) received and refunded." in p for p in pages) == 1
    assert sum("1 return(s) were already received" in p for p in pages) == 7
    # and one audit row (admin LogEntry) for the return, by the click that made the transition
    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(TrialReturn), object_id=str(tr.pk))
    assert entries.count() == 1
