from django.contrib import admin, messages
from django.utils import timezone

from commerce.audit import admin_action_logged
from commerce.models import Drop
from commerce.staff_access import perm_check

from . import services
from .control.admin import ControlRoomAdminMixin
from .models import LiveSession, Series, SessionFormat


@admin.register(SessionFormat)
class SessionFormatAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "duration_seconds", "max_featured_skus", "has_coupon"]
    list_filter = ["kind", "has_coupon"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class SessionInline(admin.TabularInline):
    model = LiveSession
    fields = ["title", "starts_at", "status", "stream_url", "schedule_note"]
    readonly_fields = ["title", "starts_at", "status", "schedule_note"]
    extra = 0
    show_change_link = True
    can_delete = False
    ordering = ["starts_at"]


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ["name", "format", "host_name", "weekday", "local_time", "timezone", "is_active", "upcoming"]
    list_display += ["followers_count"]  # confirmed followers (sessions_app/cadence)
    list_filter = ["format", "is_active", "timezone", "weekday"]
    search_fields = ["name", "host_name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [SessionInline]
    actions = ["plan_sessions"]

    has_plan_permission = perm_check("sessions_app.add_livesession")

    def get_queryset(self, request):
        from django.db.models import Count, Q

        confirmed = Q(followers__status="confirmed")  # SeriesFollower.Status.CONFIRMED (sessions_app/cadence)
        return super().get_queryset(request).annotate(n_followers=Count("followers", filter=confirmed, distinct=True))

    @admin.display(description="Followers", ordering="n_followers")
    def followers_count(self, obj):
        """Confirmed followers (sessions_app/cadence)."""
        return obj.n_followers

    @admin.display(description="Upcoming sessions")
    def upcoming(self, obj):
        return obj.sessions.filter(status=LiveSession.Status.SCHEDULED, starts_at__gte=timezone.now()).count()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        created = services.series_plan_sessions(series=obj)
        if created:
            self.message_user(request, f"Scheduled {len(created)} upcoming session(s).", messages.SUCCESS)
        # Daylight-saving days: say which upcoming sessions did not start at the typed wall-clock time.
        for session in obj.sessions.filter(status=LiveSession.Status.SCHEDULED, starts_at__gte=timezone.now()).exclude(
            schedule_note=""
        ):
            self.message_user(request, f"{session.title}: {session.schedule_note}", messages.WARNING)

    @admin.action(description="Schedule missing upcoming sessions", permissions=["plan"])
    def plan_sessions(self, request, queryset):
        total = sum(len(services.series_plan_sessions(series=s)) for s in queryset)
        admin_action_logged(request, queryset, f"Scheduled {total} session(s) (admin action).")
        self.message_user(request, f"Scheduled {total} session(s).", messages.SUCCESS)


class DropInline(admin.TabularInline):
    model = Drop
    fields = ["sku", "title", "quantity", "units_left", "price_minor", "currency", "opens_at", "closes_at"]
    readonly_fields = ["title", "quantity", "units_left", "price_minor", "currency", "opens_at", "closes_at"]
    extra = 0
    show_change_link = True
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).with_total_available()  # over all stock shards, one query

    @admin.display(description="Available")
    def units_left(self, obj):
        return obj.total_available if obj.pk else "-"

    def has_add_permission(self, request, obj=None):
        return False  # drops are created on the Drop page so stock starts right


@admin.register(LiveSession)
class LiveSessionAdmin(ControlRoomAdminMixin, admin.ModelAdmin):  # + the live control room (docs/control-room.md)
    list_display = ["title", "format", "series", "starts_at", "status", "went_live_at", "drop_count", "schedule_note"]
    list_filter = ["status", "format", "series"]
    search_fields = ["title", "series__name"]
    date_hierarchy = "starts_at"
    readonly_fields = ["public_id", "went_live_at", "ended_at", "status", "schedule_note"]
    inlines = [DropInline]
    actions = ["go_live", "end", "cancel"]

    has_golive_permission = perm_check("sessions_app.golive_livesession")
    has_cancel_permission = perm_check("sessions_app.cancel_livesession")

    @admin.display(description="Drops")
    def drop_count(self, obj):
        return obj.drops.count()

    def save_model(self, request, obj, form, change):
        """A changed start goes through session_reschedule (SEQUENCE + notices to reminded followers)."""
        from .cadence.services import CadenceError, session_reschedule

        if not (change and "starts_at" in form.changed_data):
            return super().save_model(request, obj, form, change)
        new_start = obj.starts_at
        obj.starts_at = form.initial["starts_at"]
        super().save_model(request, obj, form, change)
        try:
            moved = session_reschedule(session_id=obj.pk, starts_at=new_start)
        except CadenceError as exc:
            self.message_user(request, f"The start was not changed: {exc.message}", messages.ERROR)
            return
        obj.starts_at, obj.sequence = moved.starts_at, moved.sequence
        self.message_user(request, "Moved: followers already reminded get the new time.", messages.SUCCESS)

    def _run(self, request, queryset, service, verb):
        done = []
        for session in queryset:
            try:
                service(session_id=session.pk)
                done.append(session)
            except services.SessionError as exc:
                self.message_user(request, f"{session}: {exc.message}", messages.WARNING)
        admin_action_logged(request, done, f"{verb} (admin action).")
        if done:
            self.message_user(request, f"{verb} {len(done)} session(s).", messages.SUCCESS)

    @admin.action(description="Go live", permissions=["golive"])
    def go_live(self, request, queryset):
        self._run(request, queryset, services.session_go_live, "Started")

    @admin.action(description="End session", permissions=["golive"])
    def end(self, request, queryset):
        self._run(request, queryset, services.session_end, "Ended")

    @admin.action(description="Cancel session", permissions=["cancel"])
    def cancel(self, request, queryset):
        self._run(request, queryset, services.session_cancel, "Cancelled")

from .assets import admin as assets_admin  # noqa: E402, F401  (recordings, clips, jobs, timeline)

# Stored objects (content-addressed asset bytes): read-only, restore / collect actions.
from .assets import admin_objects  # noqa: E402,F401

# Followers and reminder batches (sessions_app/cadence, docs/cadence.md).
from .cadence import admin as cadence_admin  # noqa: E402, F401
