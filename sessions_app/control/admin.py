"""The "Control room" link and URLs on the LiveSession admin (mixed into sessions_app.admin.LiveSessionAdmin)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from commerce.staff_access import has_staff_perms, staff_permission_required

from . import views


class ControlRoomAdminMixin:
    """Adds `<id>/control/` (the page) and `<id>/control/counters.json` to the session admin, and a
    "Control room" button to its list and change page for staff who may open it."""

    def get_urls(self):
        return [
            path(
                "<id:session_id>/control/",
                self.admin_site.admin_view(self.control_room_view),
                name="sessions_app_livesession_control",
            ),
            path(
                "<id:session_id>/control/counters.json",
                self.admin_site.admin_view(self.control_counters_view),
                name="sessions_app_livesession_control_counters",
            ),
            *super().get_urls(),
        ]

    @staff_permission_required(views.VIEW_PERMISSION)
    def control_room_view(self, request, session_id: int):
        return views.control_room(request, session_id, admin_site=self.admin_site)

    @staff_permission_required(views.VIEW_PERMISSION)
    def control_counters_view(self, request, session_id: int):
        return views.control_counters(request, session_id)

    @admin.display(description="Control room")
    def control_room_link(self, obj):
        if obj is None or obj.pk is None or obj.status not in ("scheduled", "live"):
            return "—"
        url = reverse("admin:sessions_app_livesession_control", args=[obj.pk])
        return format_html('<a class="button" href="{}">Control room</a>', url)

    def get_list_display(self, request):
        shown = list(super().get_list_display(request))
        if has_staff_perms(request.user, [views.VIEW_PERMISSION]):
            shown.append("control_room_link")
        return shown

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and has_staff_perms(request.user, [views.VIEW_PERMISSION]):
            fields.insert(0, "control_room_link")
        return fields
