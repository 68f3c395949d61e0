"""Admin for followers and reminder batches (imported at the end of sessions_app/admin.py).

Followers are read-only (search by e-mail; support may view). Reminder batches show
"sent x of y" and offer "Retry failed sends" (the failed outbox rows go back in the queue).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q

from commerce.audit import admin_action_logged
from commerce.models import OutboxMessage
from commerce.services.outbox import outbox_retry
from commerce.staff_access import perm_check

from .models import Reminder, ReminderBatch, SeriesFollower
from .services import OUTBOX_KIND


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SeriesFollower)
class SeriesFollowerAdmin(ReadOnlyAdmin):
    list_display = ["email", "series", "status", "created_at", "confirmed_at", "unsubscribed_at", "customer"]
    list_filter = ["status", "series"]
    search_fields = ["email", "email_normalized"]
    readonly_fields = [f.name for f in SeriesFollower._meta.fields if f.name != "token"]
    exclude = ["token"]  # the private confirm/unsubscribe link never shows in the admin
    list_select_related = ["series", "customer"]
    date_hierarchy = "created_at"


def _failed_rows(batch_ids):
    return OutboxMessage.objects.filter(
        kind=OUTBOX_KIND, status=OutboxMessage.Status.FAILED, payload__batch_id__in=list(batch_ids)
    )


@admin.register(ReminderBatch)
class ReminderBatchAdmin(ReadOnlyAdmin):
    list_display = ["session", "kind", "offset_seconds", "sequence", "due_at", "progress", "skipped", "failed"]
    list_filter = ["kind", "offset_seconds"]
    search_fields = ["session__title"]
    readonly_fields = ["session", "kind", "offset_seconds", "sequence", "due_at", "created_at"]
    actions = ["retry_failed"]
    has_retry_permission = perm_check("commerce.retry_outboxmessage")

    def get_queryset(self, request):
        s = Reminder.Status
        return (
            super()
            .get_queryset(request)
            .select_related("session")
            .annotate(
                n_total=Count("reminders"),
                n_sent=Count("reminders", filter=Q(reminders__status=s.SENT)),
                n_skipped=Count("reminders", filter=Q(reminders__status=s.SKIPPED)),
            )
        )

    @admin.display(description="Progress")
    def progress(self, obj):
        return f"sent {obj.n_sent} of {obj.n_total}"

    @admin.display(description="Skipped")
    def skipped(self, obj):
        return obj.n_skipped

    @admin.display(description="Failed sends")
    def failed(self, obj):
        return _failed_rows([obj.pk]).count()

    @admin.action(description="Retry failed sends", permissions=["retry"])
    def retry_failed(self, request, queryset):
        batches = list(queryset)
        count = outbox_retry(message_ids=_failed_rows(b.pk for b in batches).values_list("pk", flat=True))
        admin_action_logged(request, batches, f"Retried {count} failed reminder send(s) (admin action).")
        self.message_user(request, f"{count} failed send(s) queued again.", messages.SUCCESS)
