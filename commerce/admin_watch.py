"""Back office for watch-gated coupons (docs/watch-coupons.md).

- The Coupon form gains the watch gate (seconds to watch, grace minutes after the session's end) with
  clear field errors: a gated coupon needs a session or drop scope and no customer. The change page
  shows how many personal codes were issued and redeemed.
- Personal codes (WatchCode) have a read-only list, searchable by code and by the bound customer's
  e-mail. Visitor ids are shown to staff only as a short prefix (support can match a complaint to a
  browser, nobody can copy a cookie from the admin).
Staff permissions are the models' own (view_watchcode; the coupon's add/change), declared in ROLES.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .admin import CouponAdmin, CouponForm
from .models import Coupon, WatchCode
from .selectors_watch import watch_code_counts


class WatchCouponForm(CouponForm):
    """The coupon form plus the watch gate."""

    class Meta(CouponForm.Meta):
        fields = [*CouponForm.Meta.fields, "watch_seconds_required", "watch_grace_minutes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["watch_grace_minutes"].required = False  # empty = the default, for ordinary coupons too

    def clean_watch_grace_minutes(self):
        value = self.cleaned_data.get("watch_grace_minutes")
        return Coupon._meta.get_field("watch_grace_minutes").default if value is None else value

    def clean(self):
        data = super().clean()
        seconds = data.get("watch_seconds_required")
        if seconds is not None:
            if seconds <= 0:
                self.add_error("watch_seconds_required", "At least 1 second (or empty for an ordinary coupon).")
            if not data.get("session") and not data.get("drop"):
                self.add_error(
                    "watch_seconds_required",
                    "A watch-gated coupon must be scoped to a session or a drop (the session that is watched).",
                )
            if data.get("sku"):
                self.add_error("sku", "A watch-gated coupon is scoped to a session or a drop, not a SKU.")
            if data.get("customer"):
                self.add_error("customer", "A watch-gated coupon gives each viewer a personal code; leave this empty.")
        return data


admin.site.unregister(Coupon)


@admin.register(Coupon)
class WatchCouponAdmin(CouponAdmin):
    """CouponAdmin with the watch gate and its personal-code counts."""

    form = WatchCouponForm
    list_display = [*CouponAdmin.list_display, "watch_gate"]
    readonly_fields = [*CouponAdmin.readonly_fields, "watch_codes_summary"]

    @admin.display(description="Watch gate")
    def watch_gate(self, obj):
        return f"{obj.watch_seconds_required} s" if obj.watch_seconds_required else "—"

    @admin.display(description="Personal codes")
    def watch_codes_summary(self, obj):
        if not obj or not obj.pk or obj.watch_seconds_required is None:
            return "Not watch-gated."
        counts = watch_code_counts(coupon_ids=[obj.pk]).get(obj.pk, {"issued": 0, "redeemed": 0})
        url = reverse("admin:commerce_watchcode_changelist") + f"?coupon__id__exact={obj.pk}"
        return format_html('{} issued, {} redeemed (<a href="{}">list</a>)', counts["issued"], counts["redeemed"], url)


@admin.register(WatchCode)
class WatchCodeAdmin(admin.ModelAdmin):
    """Personal codes, read-only: issued by viewers' claims, redeemed by checkout."""

    list_display = ["code", "coupon", "session", "customer", "watched_seconds", "issued_at", "redeemed_at", "order"]
    list_filter = [("redeemed_at", admin.EmptyFieldListFilter), "coupon"]
    list_select_related = ["coupon", "session", "customer", "order"]
    search_fields = ["code", "customer__email", "coupon__code", "order__number"]
    fields = [
        "code",
        "coupon",
        "session",
        "visitor",
        "customer",
        "watched_seconds",
        "issued_at",
        "bound_at",
        "redeemed_at",
        "order",
    ]
    readonly_fields = fields

    @admin.display(description="Visitor")
    def visitor(self, obj):
        return f"{obj.visitor_id[:8]}…" if obj.visitor_id else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # redemption history
