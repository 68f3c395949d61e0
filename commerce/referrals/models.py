"""Models of share-to-unlock campaigns, personal share links, counted visits and unlocks."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q


def new_share_token() -> str:
    return secrets.token_urlsafe(9)


class ShareCampaign(models.Model):
    """Staff's offer: share this session (or clip) and unlock `percent_off` once `visits_required` distinct
    new visitors arrive through your link. The unlocked offer is a personal coupon valid `offer_minutes`."""

    name = models.CharField(max_length=160)
    session = models.ForeignKey(
        "sessions_app.LiveSession",
        on_delete=models.PROTECT,
        related_name="share_campaigns",
        help_text="The session whose page (or clip) is shared; the offer applies to its drops.",
    )
    clip = models.ForeignKey(
        "sessions_app.Clip",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="share_campaigns",
        help_text="Share this clip's page instead of the session page.",
    )
    visits_required = models.PositiveSmallIntegerField(default=3)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2)
    offer_minutes = models.PositiveIntegerField(default=60, help_text="How long an unlocked offer stays valid.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(visits_required__gte=1),
                name="share_campaign_visits_positive",
                violation_error_message="At least one visit must be required.",
            ),
            models.CheckConstraint(
                condition=Q(percent_off__gt=0, percent_off__lte=100),
                name="share_campaign_percent_range",
                violation_error_message="The offer must be between 0 and 100 percent off.",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="share_campaign_ends_after_start",
                violation_error_message="A campaign must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ShareLink(models.Model):
    """One sharer's personal link for a campaign (`?ref=<token>`): one per (campaign, visitor)."""

    campaign = models.ForeignKey(ShareCampaign, on_delete=models.PROTECT, related_name="links")
    token = models.CharField(max_length=32, unique=True, default=new_share_token, editable=False)
    visitor_id = models.CharField(max_length=64, help_text="The sharer's visitor cookie (mm_vid); never shown.")
    customer = models.ForeignKey(
        "commerce.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="share_links"
    )
    network = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Hashed client network the link was created from: visits from it never count.",
    )
    visits = models.PositiveIntegerField(default=0, help_text="Distinct new visitors counted (maintained).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "visitor_id"],
                name="share_link_one_per_visitor",
                violation_error_message="This viewer already has a link for this campaign.",
            ),
        ]
        # a hold binds the browser's unlocked coupons by visitor id (share_coupons_bind_visitor): on the hold path
        indexes = [models.Index(fields=["visitor_id"], name="sharelink_visitor")]

    def __str__(self) -> str:
        return self.token


class ShareVisit(models.Model):
    """A distinct new visitor who arrived through a share link (counted once per campaign and visitor)."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="visit_rows")
    visitor_id = models.CharField(max_length=64)
    network = models.CharField(max_length=64, blank=True, help_text="Hashed client network (rate limits).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link", "visitor_id"],
                name="share_visit_once_per_visitor",
                violation_error_message="This visitor was already counted for this link.",
            ),
        ]
        # the per-campaign network limit counts a network's visits under the campaign's lock
        indexes = [
            models.Index(fields=["visitor_id"], name="sharevisit_visitor"),
            models.Index(fields=["network"], name="sharevisit_network"),
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id[:8]}… via {self.link_id}"


class ShareUnlock(models.Model):
    """The instant personal offer a link unlocked: one per (campaign, sharer). `coupon` is personal."""

    campaign = models.ForeignKey(ShareCampaign, on_delete=models.PROTECT, related_name="unlocks")
    link = models.OneToOneField(ShareLink, on_delete=models.PROTECT, related_name="unlock")
    visitor_id = models.CharField(max_length=64)
    coupon = models.OneToOneField("commerce.Coupon", on_delete=models.PROTECT, related_name="share_unlock")
    unlocked_at = models.DateTimeField()

    class Meta:
        ordering = ["-unlocked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "visitor_id"],
                name="share_unlock_one_per_person",
                violation_error_message="This viewer already unlocked this campaign's offer.",
            ),
        ]
        indexes = [models.Index(fields=["visitor_id"], name="shareunlock_visitor")]

    def __str__(self) -> str:
        return f"unlock {self.coupon_id} for {self.campaign}"
