"""Trial returns under real concurrency on PostgreSQL: two staff clicking "Mark received and refund" at once
refund exactly once; many requests for the same line make one TrialReturn."""

from __future__ import annotations

import pytest

from commerce.memberships.services_trials import trial_return_receive, trial_return_request
from commerce.models import Refund, Sku, TrialReturn
from commerce.services.outbox import outbox_drain
from tests.commerce.memberships.trial_support import paid_trial_order
from tests.commerce.test_races import race

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
    assert {r.refund_id for r in results} == {refund.pk}
    assert Sku.objects.get(pk=line.sku_id).inventory == 11
    order.refresh_from_db()
    assert order.refunded_minor == order.total_minor


def test_buyers_double_clicking_make_one_return_request():
    order = paid_trial_order(days=14)
    line = order.lines.get()
    results = race(12, lambda i: trial_return_request(order_id=order.pk, line_id=line.pk))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert TrialReturn.objects.count() == 1 and {r.pk for r in results} == {TrialReturn.objects.get().pk}
