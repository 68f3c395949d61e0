"""Stored objects in the admin: read-only rows (bytes change only through sessions_app.assets.cas),
with two actions: request a restore of archived objects, and collect unreferenced ones now.

Permissions: viewing needs sessions_app.view_assetobject; "Request restore" needs
sessions_app.change_assetobject; "Collect now if unreferenced" needs sessions_app.delete_assetobject.
Both actions are audited (admin LogEntry per object).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from commerce.audit import admin_action_logged
from commerce.staff_access import perm_check

from .cas import AssetError, asset_collect
from .models import AssetObject
from .tiers import asset_availability, asset_restore_request


@admin.register(AssetObject)
class AssetObjectAdmin(admin.ModelAdmin):
    list_display = ["short_sha", "kind", "size", "content_type", "tier", "storage_class", "ref_count", "availability",
                    "hot", "created_at"]
    list_filter = ["kind", "tier", "restore", "hot"]
    search_fields = ["sha256"]
    ordering = ["-created_at"]
    actions = ["request_restore", "collect_unreferenced"]

    has_restore_permission = perm_check("sessions_app.change_assetobject")
    has_collect_permission = perm_check("sessions_app.delete_assetobject")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False  # objects are created by uploads and derivative jobs

    def has_change_permission(self, request, obj=None):
        return False  # read-only: counts and tiers change only under the row lock (cas, tiers)

    def has_delete_permission(self, request, obj=None):
        return False  # bytes go through "Collect now", which re-checks the references

    @admin.display(description="SHA-256", ordering="sha256")
    def short_sha(self, obj):
        return obj.sha256[:16] + "…"

    @admin.display(description="Size", ordering="size_bytes")
    def size(self, obj):
        return filesizeformat(obj.size_bytes)

    @admin.display(description="Playable")
    def availability(self, obj):
        state, eta = asset_availability(obj)
        return f"{state} (ETA {eta:%Y-%m-%d %H:%M} UTC)" if eta else state

    @admin.action(description="Request restore (archived objects)", permissions=["restore"])
    def request_restore(self, request, queryset):
        done = []
        for obj in queryset.order_by("pk"):
            try:
                done.append(asset_restore_request(asset_id=obj.pk))
            except AssetError as exc:
                self.message_user(request, f"{obj.sha256[:12]}: {exc.message}", messages.WARNING)
        admin_action_logged(request, done, "Restore requested (admin action).")
        if done:
            self.message_user(request, f"Restore requested for {len(done)} object(s).", messages.SUCCESS)

    @admin.action(description="Collect now if unreferenced", permissions=["collect"])
    def collect_unreferenced(self, request, queryset):
        candidates = list(queryset.filter(ref_count=0).order_by("pk"))
        skipped = queryset.count() - len(candidates)
        admin_action_logged(request, candidates, "Collected (admin action).")
        collected = sum(1 for obj in candidates if asset_collect(asset_id=obj.pk))
        self.message_user(request, f"Collected {collected} object(s); {skipped} still referenced.", messages.SUCCESS)
