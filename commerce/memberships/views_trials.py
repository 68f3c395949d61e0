"""The buyer's trial return request, from the order page (docs/trials.md).

POST /orders/<order token>/lines/<line id>/trial-return/: the order's unguessable token is the proof
(the buyer's private link); the line must belong to that order. Parse, call one service, go back to the
order page with a message. Errors (window ended, not a trial) are shown as messages, never a 500.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from ..exceptions import CommerceError
from ..models import Order, OrderLine
from .services_trials import trial_return_request


@require_POST
def trial_return_page(request, token: str, line_id: int):
    """POST: ask to return a trial line (reason optional, ≤ 500 characters); redirects to the order page."""
    order = get_object_or_404(Order, token=token)
    try:
        trial_return_request(
            order_id=order.pk, line_id=line_id, reason=(request.POST.get("reason") or "").strip()[:500]
        )
    except OrderLine.DoesNotExist as exc:
        raise Http404 from exc
    except CommerceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "Return requested. Send the item back as the e-mail explains; we refund it when it arrives."
        )
    return redirect("commerce:order", token=order.token)
