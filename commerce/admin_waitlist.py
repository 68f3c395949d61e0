"""Staff views of waitlists and carried-over stock (docs/waitlist.md, README "Waitlists and stock carry-over").

- Waitlist entries (per drop, FIFO position, status) with the action "Remove from the line".
- Waitlist offers (read-only: open, claimed, expired, withdrawn) and stock transfers (read-only).
- On the Drop admin (`WaitlistDropAdminMixin`): people waiting, units wanted, revenue if the
  quantity were raised to serve them all, and the actions "Offer freed units now" and
  "Carry unsold stock to the next session" (both need commerce.change_drop; audited).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from .audit import admin_action_logged
from .exceptions import CommerceError
from .models import Drop, StockTransfer, WaitlistEntry, WaitlistOffer
from .money import format_money
from .selectors_waitlist import waitlist_summary
from .services import carry_over, waitlist
from .staff_access import perm_check


class WaitlistDropAdminMixin:
    """Waitlist figures and the carry-over / offer actions on the Drop admin."""

    actions = ["offer_freed_now", "carry_over_now"]
    has_change_drop_permission = perm_check("commerce.change_drop")

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "waitlist_figures"]

    @admin.display(description="Waitlist")
    def waitlist_figures(self, obj):
        """People waiting, units wanted, and revenue if raised = units wanted × current unit price."""
        if not obj or not obj.pk:
            return "Save the drop first."
        try:  # the saved drop's terms (the form may hold unsaved, invalid input)
            s = waitlist_summary(drop=Drop.objects.get(pk=obj.pk), now=timezone.now())
        except (ValueError, ArithmeticError):
            return "The saved price schedule is not valid: fix it to see the waitlist figures."
        return format_html(
            "{} waiting for {} unit(s); {} open offer(s). Revenue if the quantity were raised by {}: {} "
            "({} × current price {}).",
            s.waiting,
            s.units_wanted,
            s.offers_open,
            s.units_wanted,
            format_money(s.revenue_if_raised_minor, s.currency),
            s.units_wanted,
            format_money(s.unit_price_minor, s.currency),
        )

    @admin.action(description="Offer freed units now (waitlist)", permissions=["change_drop"])
    def offer_freed_now(self, request, queryset):
        made, done = 0, []
        for drop in queryset.order_by("pk"):
            n = waitlist.waitlist_offer_freed_now(drop_id=drop.pk)
            made += n
            if n:
                done.append(drop)
        admin_action_logged(request, done, "Offered freed units to the waitlist")
        self.message_user(request, f"{made} offer(s) sent.", messages.SUCCESS if made else messages.INFO)

    @admin.action(description="Carry unsold stock to the next session", permissions=["change_drop"])
    def carry_over_now(self, request, queryset):
        moved = []
        for drop in queryset.order_by("pk"):
            try:
                transfer = carry_over.stock_carry_over(drop_id=drop.pk, actor=f"staff:{request.user.get_username()}")
            except CommerceError as exc:
                self.message_user(request, f"{drop}: {exc.message}", messages.WARNING)
                continue
            if transfer is None:
                self.message_user(request, f"{drop}: no unsold units to move.", messages.INFO)
                continue
            moved.append(transfer)
            self.message_user(
                request,
                f"{drop}: moved {transfer.units} unit(s) to {transfer.to_drop} ({transfer.to_drop.session}).",
                messages.SUCCESS,
            )
        admin_action_logged(request, [t.from_drop for t in moved], "Carried unsold stock to the next session")
        admin_action_logged(request, [t.to_drop for t in moved], "Received stock carried over")


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(admin.ModelAdmin):
    list_display = ["drop", "place_in_line", "email", "quantity", "status", "created_at", "ended_at"]
    list_filter = ["status", "drop__session"]
    list_select_related = ["drop__sku__product", "drop__session"]
    search_fields = ["email", "drop__title", "drop__sku__code"]
    ordering = ["drop", "position", "pk"]
    actions = ["remove"]
    exclude = ["token"]  # the leave link is the viewer's, e-mailed only to them
    readonly_fields = [f.name for f in WaitlistEntry._meta.fields if f.name != "token"]
    has_remove_permission = perm_check("commerce.change_waitlistentry")

    def has_add_permission(self, request):
        return False  # people join through the "notify me" page or the API

    @admin.display(description="Place in line", ordering="position")
    def place_in_line(self, obj):
        """1 = served next; only waiting entries have a place (an indexed count on the partial FIFO index)."""
        if obj.status != WaitlistEntry.Status.WAITING:
            return "–"
        ahead = WaitlistEntry.objects.filter(
            drop_id=obj.drop_id, status=WaitlistEntry.Status.WAITING, position__lt=obj.position
        ).count()
        return ahead + 1

    def has_delete_permission(self, request, obj=None):
        return False  # history: remove from the line instead

    @admin.action(description="Remove from the line (withdraws an open offer)", permissions=["remove"])
    def remove(self, request, queryset):
        removed = []
        for entry in queryset.filter(status__in=WaitlistEntry.LIVE_STATUSES).order_by("pk"):
            removed.append(waitlist.waitlist_leave(token=entry.token))
        admin_action_logged(request, removed, "Removed from the waitlist")
        self.message_user(request, f"{len(removed)} removed from the line.", messages.SUCCESS)


@admin.register(WaitlistOffer)
class WaitlistOfferAdmin(admin.ModelAdmin):
    list_display = ["drop", "entry", "quantity", "status", "expires_at", "created_at", "ended_at", "hold"]
    list_filter = ["status"]
    list_select_related = ["drop__sku__product", "entry", "hold"]
    search_fields = ["entry__email", "drop__title"]
    exclude = ["token"]
    readonly_fields = [f.name for f in WaitlistOffer._meta.fields if f.name != "token"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StockTransfer)
class StockTransferAdmin(admin.ModelAdmin):
    list_display = ["at", "from_drop", "to_drop", "units", "actor"]
    list_select_related = ["from_drop__sku__product", "to_drop__sku__product"]
    readonly_fields = [f.name for f in StockTransfer._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
