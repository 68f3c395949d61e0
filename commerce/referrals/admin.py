"""Back office for share-to-unlock (docs/share-to-unlock.md).

Staff (host) define campaigns: the session (or one of its clips) to share, how many new visitors unlock
the offer, the percent off and how long the unlocked personal code stays valid, and the campaign window.
Links and unlocks are read-only history (what viewers did); visitor ids are shown only as a short prefix.
Permissions are the models' own (add/change/view), declared for the roles in commerce/staff_roles.py.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from .models import ShareCampaign, ShareLink, ShareUnlock


class ShareCampaignForm(forms.ModelForm):
    class Meta:
        model = ShareCampaign
        fields = [
            "name",
            "session",
            "clip",
            "visits_required",
            "percent_off",
            "offer_minutes",
            "starts_at",
            "ends_at",
            "is_active",
        ]

    def clean(self):
        data = super().clean()
        session, clip = data.get("session"), data.get("clip")
        if clip is not None and session is not None and clip.session_id != session.pk:
            self.add_error("clip", "Pick a clip of the campaign's session (the offer applies to that session's drops).")
        if data.get("offer_minutes") == 0:
            self.add_error("offer_minutes", "The unlocked offer must last at least 1 minute.")
        return data


@admin.register(ShareCampaign)
class ShareCampaignAdmin(admin.ModelAdmin):
    form = ShareCampaignForm
    list_display = [
        "name",
        "session",
        "clip",
        "visits_required",
        "percent_off",
        "offer_minutes",
        "starts_at",
        "ends_at",
        "is_active",
        "links_count",
        "unlocks_count",
    ]
    list_filter = ["is_active"]
    list_select_related = ["session", "clip"]
    search_fields = ["name", "session__title"]
    readonly_fields = ["funnel"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(n_links=Count("links", distinct=True), n_unlocks=Count("unlocks", distinct=True))
        )

    @admin.display(description="Links shared", ordering="n_links")
    def links_count(self, obj):
        return obj.n_links

    @admin.display(description="Unlocks", ordering="n_unlocks")
    def unlocks_count(self, obj):
        return obj.n_unlocks

    @admin.display(description="Funnel")
    def funnel(self, obj):
        if not obj or not obj.pk:
            return "—"
        from .selectors import share_campaigns_funnel

        row = share_campaigns_funnel(campaigns=ShareCampaign.objects.filter(pk=obj.pk))[0]
        url = reverse("admin:commerce_shareunlock_changelist") + f"?campaign__id__exact={obj.pk}"
        return format_html(
            '{} links shared → {} counted visits → {} unlocks (<a href="{}">list</a>) → {} purchases',
            row["links"],
            row["visits"],
            row["unlocks"],
            url,
            row["purchases"],
        )


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # what viewers did: history

    @admin.display(description="Visitor")
    def visitor(self, obj):
        return f"{obj.visitor_id[:8]}…" if obj.visitor_id else "—"


@admin.register(ShareLink)
class ShareLinkAdmin(_ReadOnly):
    """Sharers' personal links, read-only (created by the session page's share button)."""

    list_display = ["pk", "campaign", "visitor", "customer", "visits", "created_at"]
    list_filter = ["campaign"]
    list_select_related = ["campaign", "customer"]
    search_fields = ["customer__email"]
    fields = ["campaign", "visitor", "customer", "visits", "created_at"]
    readonly_fields = fields


@admin.register(ShareUnlock)
class ShareUnlockAdmin(_ReadOnly):
    """Unlocked offers and their personal coupons, read-only."""

    list_display = ["coupon", "campaign", "visitor", "coupon_customer", "unlocked_at", "valid_until"]
    list_filter = ["campaign"]
    list_select_related = ["campaign", "coupon", "coupon__customer"]
    search_fields = ["coupon__code", "coupon__customer__email"]
    fields = ["campaign", "link", "visitor", "coupon", "coupon_customer", "unlocked_at", "valid_until"]
    readonly_fields = fields

    @admin.display(description="Bound to")
    def coupon_customer(self, obj):
        return obj.coupon.customer or "— (not bound yet: the code works once the sharer's browser places a hold)"

    @admin.display(description="Valid until")
    def valid_until(self, obj):
        return obj.coupon.valid_until
