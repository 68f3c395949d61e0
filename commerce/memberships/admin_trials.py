"""Staff view of trial returns with "Mark received and refund" (docs/trials.md).

The action needs commerce.receive_trialreturn; it calls trial_return_receive per row (the refund is
created exactly once under the TrialReturn row lock, then submitted to the provider after commit) and
writes an admin LogEntry per row THIS click changed (a racing click that finds the row received
is told "already received" and writes none) (the TrialReturn and the Refund are audited models too).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from ..audit import admin_action_logged
from ..exceptions import CommerceError
from ..models import TrialReturn
from ..staff_access import perm_check
from .services_trials import CANCELLED, RECEIVED, trial_return_receive


@admin.register(TrialReturn)
class TrialReturnAdmin(admin.ModelAdmin):
    list_display = ["order", "order_line", "status", "requested_at", "window_ends_at", "received_at", "refund"]
    list_filter = ["status"]
    list_select_related = ["order", "order_line", "refund"]
    search_fields = ["order__number", "order__customer__email"]
    fields = [
        "order",
        "order_line",
        "status",
        "reason",
        "requested_at",
        "window_ends_at",
        "received_at",
        "received_by",
        "refund",
    ]
    readonly_fields = fields
    actions = ["mark_received_and_refund"]
    has_receive_permission = perm_check("commerce.receive_trialreturn")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Mark received and refund", permissions=["receive"])
    def mark_received_and_refund(self, request, queryset):
        """Receive and refund each selected return; counts and audits only the rows THIS click changed
        (trial_return_receive's TrialReceipt), others are told "already received" or why it was closed."""
        received, cancelled, already = [], [], 0
        now = timezone.now()
        for tr in queryset.order_by("pk"):
            try:
                receipt = trial_return_receive(trial_return_id=tr.pk, actor=request.user, now=now)
            except CommerceError as exc:
                self.message_user(request, f"{tr.order}: {exc.message}", messages.WARNING)
                continue
            if receipt.outcome == RECEIVED:
                received.append(receipt.trial_return)
            elif receipt.outcome == CANCELLED:
                cancelled.append(receipt.trial_return)
                self.message_user(request, f"{tr.order}: {receipt.message}", messages.WARNING)
            else:
                already += 1
        admin_action_logged(request, received, "Marked received; refund created (trial return)")
        admin_action_logged(request, cancelled, "Closed as withdrawn: the order was already refunded (trial return)")
        if received:
            self.message_user(request, f"{len(received)} return(s) received and refunded.", messages.SUCCESS)
        if already:
            self.message_user(request, f"{already} return(s) were already received (no second refund).", messages.INFO)
