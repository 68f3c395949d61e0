"""Back office for the transactional outbox: what was sent, what is waiting, what failed (and retry it)."""

from __future__ import annotations

from django.contrib import admin, messages

from .models import OutboxMessage
from .services import outbox
from .staff_access import perm_check


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = [
        "dedupe_key",
        "kind",
        "status",
        "attempts",
        "available_at",
        "last_attempt_at",
        "done_at",
        "short_error",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["dedupe_key"]
    date_hierarchy = "created_at"
    actions = ["retry"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    @admin.display(description="last error")
    def short_error(self, obj):
        return (obj.last_error or "")[:120]

    def has_add_permission(self, request):
        return False  # rows are written by services, in the transaction of the change they belong to

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    has_retry_permission = perm_check("commerce.retry_outboxmessage")

    @admin.action(permissions=["retry"], description="Retry selected failed messages")
    def retry(self, request, queryset):
        count = outbox.outbox_retry(message_ids=queryset.values_list("pk", flat=True))
        skipped = queryset.count() - count
        self.message_user(request, f"{count} message(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} message(s) were not failed and were left alone.", messages.WARNING)
