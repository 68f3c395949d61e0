"""Staff view of trial returns with "Mark received and refund" (docs/trials.md).

The action needs commerce.receive_trialreturn; it calls trial_return_receive per row (the refund is
created exactly once under the TrialReturn row lock, then submitted to the provider after commit) and
writes an admin LogEntry per row it changed (the TrialReturn and the Refund are audited models too).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from ..audit import admin_action_logged
from ..exceptions import CommerceError
from ..models import TrialReturn
from ..staff_access import perm_check
from .services_trials import trial_return_receive


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
        done, already = [], 0
        now = timezone.now()
        for tr in queryset.order_by("pk"):
            was = tr.status
            try:
                result = trial_return_receive(trial_return_id=tr.pk, actor=request.user, now=now)
            except CommerceError as exc:
                self.message_user(request, f"{tr.order}: {exc.message}", messages.WARNING)
                continue
            if was == TrialReturn.Status.RECEIVED:
                already += 1
            else:
                done.append(result)
        admin_action_logged(request, done, "Marked received; refund created (trial return)")
        if done:
            self.message_user(request, f"{len(done)} return(s) received and refunded.", messages.SUCCESS)
        if already:
            self.message_user(request, f"{already} return(s) were already received (no second refund).", messages.INFO)
