"""The audit log in the back office: django-auditlog's entries, read-only and searchable, with who did it."""

from __future__ import annotations

from auditlog import get_logentry_model
from auditlog.admin import LogEntryAdmin as AuditlogEntryAdmin
from django.contrib import admin

from .audit import actor_label

LogEntry = get_logentry_model()


class AuditLogEntryAdmin(AuditlogEntryAdmin):
    """Staff actions and money movements: who (user or system label), what (object, before → after), when."""

    list_display = ["created", "resource_url", "action", "msg_short", "who", "cid_url"]
    search_fields = [
        "object_repr",
        "actor_email",
        "actor__username",
        "actor__first_name",
        "actor__last_name",
        "=object_pk",
        "=cid",
    ]
    list_filter = [*AuditlogEntryAdmin.list_filter, "content_type"]
    readonly_fields = [*AuditlogEntryAdmin.readonly_fields, "who", "remote_addr"]
    fieldsets = [
        (None, {"fields": ["created", "who", "remote_addr", "resource_url", "cid"]}),
        ("Changes", {"fields": ["action", "msg"]}),
    ]

    @admin.display(description="Who")
    def who(self, obj):
        return actor_label(obj)

    def has_delete_permission(self, request, obj=None):
        return False  # retention is the operator's job (docs/staff-roles.md), never a click in the admin


admin.site.unregister(LogEntry)
admin.site.register(LogEntry, AuditLogEntryAdmin)
