"""Sampling: campaigns, micro-form requests, their audit trail and follow-up offers.

Scarce counter: `SampleCampaign.available` (samples neither reserved nor shipped).
It changes only through `sampling.locks` (one conditional UPDATE) and the database
refuses any value outside 0..quantity. Identity: one request per normalized
e-mail per campaign and one per normalized household address per campaign, both
UNIQUE constraints (the database decides a race, not a check-then-insert).
Money is integer minor units of `currency`; times are aware UTC.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse


def new_token() -> str:
    """An unguessable URL-safe token (192 bits)."""
    return secrets.token_urlsafe(24)


class SampleCampaign(models.Model):
    """A sample give-away: one SKU, a stock of samples, a window, targeting, vetting and a follow-up offer.

    Targeting (eligibility, answered "not eligible: why" on the form):
    `purchase_rule` (anyone / bought before / never bought), `require_attended`
    and `require_clicked` (audience signals, see sampling.audience),
    `allowed_use_cases` (empty = every choice) and `countries` (ISO 3166 alpha-2,
    empty = anywhere). Priority (allocation order) is computed by
    sampling.targeting.priority_score; requests scoring below `accept_min_score`
    wait on the waitlist even while stock remains.
    """

    class PurchaseRule(models.TextChoices):
        ANYONE = "anyone", "Anyone"
        BUYERS = "buyers", "People who bought before"
        NEW = "new", "People who never bought"

    name = models.CharField(max_length=160)
    slug = models.SlugField(unique=True)
    sku = models.ForeignKey("commerce.Sku", on_delete=models.PROTECT, related_name="sample_campaigns")
    series = models.ForeignKey(
        "sessions_app.Series",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sample_campaigns",
        help_text="The micro-form shows on this series' session pages; the follow-up offer uses its next session.",
    )
    session = models.ForeignKey(
        "sessions_app.LiveSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sample_campaigns",
        help_text="Optional: show the micro-form on this one session's page.",
    )
    description = models.TextField(blank=True, help_text="One or two lines shown above the micro-form.")
    # Owner of the campaign's fulfilment (docs/access.md): only this 3PL's keys export its shipments
    # (names, addresses) and import its tracking numbers; empty = the shop ships it itself.
    fulfilment_partner = models.ForeignKey(
        "commerce.Partner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fulfilled_sample_campaigns",
        help_text="The 3PL that ships this campaign's samples: only its API keys see the shipments and "
        "import tracking. Empty = shipped by the shop (only keys with the shop scope).",
    )
    quantity = models.PositiveIntegerField(help_text="Samples to give away.")
    available = models.IntegerField(help_text="Samples not yet reserved. Maintained by the system.")
    unit_cost_minor = models.PositiveBigIntegerField(
        help_text="What one sample costs us (product + shipping), minor units."
    )
    declared_value_minor = models.PositiveBigIntegerField(
        help_text="Declared value per sample for customs/3PL, minor units."
    )
    currency = models.CharField(max_length=3, default="USD")
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    is_active = models.BooleanField(default=True, help_text="Untick to stop taking requests at once.")
    use_cases = models.JSONField(
        default=list, help_text='The "most likely use case" choices, e.g. ["Everyday wear", "A gift"].'
    )
    # --- targeting -----------------------------------------------------------
    purchase_rule = models.CharField(max_length=10, choices=PurchaseRule.choices, default=PurchaseRule.ANYONE)
    require_attended = models.BooleanField(default=False, help_text="Only people who attended or watched a session.")
    require_clicked = models.BooleanField(default=False, help_text="Only people who clicked a drop.")
    allowed_use_cases = models.JSONField(default=list, blank=True, help_text="Subset of use cases; empty = all.")
    preferred_use_cases = models.JSONField(default=list, blank=True, help_text="Use cases that raise the priority.")
    countries = models.JSONField(
        default=list, blank=True, help_text='Shipping countries, e.g. ["DE", "AT"]; empty = all.'
    )
    accept_min_score = models.PositiveSmallIntegerField(
        default=0, help_text="Requests scoring below this wait on the waitlist even while samples remain."
    )
    # --- vetting -------------------------------------------------------------
    vetting_threshold = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Risk score (0–100) at or above which a request waits in the review queue. Empty = no vetting.",
    )
    # --- follow-up offer -----------------------------------------------------
    offer_percent_off = models.DecimalField(
        max_digits=5, decimal_places=2, default=0, help_text="Bundle discount for sample recipients, in percent."
    )
    address_hours = models.PositiveIntegerField(
        default=72,
        help_text="An accepted request without an address after this many hours is cancelled; its sample goes to the waitlist.",
    )
    offer_hours_after = models.PositiveIntegerField(
        default=48,
        help_text="The offer closes this many hours (wall clock, series timezone) after the next session ends.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(available__gte=0),
                name="sample_campaign_available_non_negative",
                violation_error_message="A campaign cannot have fewer than 0 samples available.",
            ),
            models.CheckConstraint(
                condition=Q(available__lte=F("quantity")),
                name="sample_campaign_available_le_qty",
                violation_error_message="A campaign cannot have more samples available than its quantity.",
            ),
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")),
                name="sample_campaign_closes_after_opens",
                violation_error_message="A campaign must close after it opens.",
            ),
            models.CheckConstraint(
                condition=Q(offer_percent_off__gte=0, offer_percent_off__lte=100),
                name="sample_campaign_offer_percent",
                violation_error_message="The follow-up offer's percent off must be between 0 and 100.",
            ),
            models.CheckConstraint(
                condition=Q(vetting_threshold__isnull=True) | Q(vetting_threshold__lte=100),
                name="sample_campaign_threshold_range",
                violation_error_message="The vetting threshold must be at most 100 (or empty for no review).",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("sampling:request", kwargs={"slug": self.slug})

    def is_open_at(self, now) -> bool:
        return self.is_active and self.opens_at <= now < self.closes_at


class SampleRequest(models.Model):
    """One person's request for a sample of a campaign.

    Status flow: waitlisted → requested (a sample is reserved) → [review] →
    approved → shipped → delivered; or rejected / cancelled. Every change writes a
    SampleRequestEvent (who, when, why). Statuses in RESERVING hold one unit of
    the campaign's stock.
    """

    # its page is the buyer's private link: never handed to staff or partners (commerce.staff_access.view_on_site)
    private_link = True

    class Status(models.TextChoices):
        WAITLISTED = "waitlisted", "Waitlisted"
        REQUESTED = "requested", "Requested (address needed)"
        REVIEW = "review", "In review"
        APPROVED = "approved", "Approved"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    RESERVING = (Status.REQUESTED, Status.REVIEW, Status.APPROVED, Status.SHIPPED, Status.DELIVERED)

    campaign = models.ForeignKey(SampleCampaign, on_delete=models.PROTECT, related_name="requests")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    email = models.EmailField(max_length=254, help_text="As typed (trimmed, NFKC).")
    email_normalized = models.CharField(max_length=320, db_index=True)
    use_case = models.CharField(max_length=120)
    consent_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, db_index=True)
    session = models.ForeignKey(
        "sessions_app.LiveSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="sample_requests"
    )
    source = models.CharField(max_length=20, default="form", help_text="form, session or api.")
    partner = models.ForeignKey("commerce.Partner", null=True, blank=True, on_delete=models.SET_NULL)
    idempotency_key = models.CharField(max_length=120, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    geo_country = models.CharField(max_length=2, blank=True, help_text="Country of the IP, from the CDN header.")
    priority_score = models.PositiveSmallIntegerField(default=0)
    priority_reasons = models.JSONField(default=list, blank=True)
    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_reasons = models.JSONField(default=list, blank=True)
    # --- shipping address (after acceptance) -----------------------------------
    ship_name = models.CharField(max_length=200, blank=True)
    ship_street_address = models.CharField(max_length=300, blank=True)
    ship_city = models.CharField(max_length=120, blank=True)
    ship_city_area = models.CharField(max_length=120, blank=True)
    ship_postal_code = models.CharField(max_length=20, blank=True)
    ship_country_area = models.CharField(max_length=120, blank=True)
    ship_country = models.CharField(max_length=2, blank=True)
    household_key = models.CharField(max_length=600, null=True, blank=True, editable=False)
    # --- fulfilment --------------------------------------------------------------
    carrier = models.CharField(max_length=60, blank=True)
    tracking_number = models.CharField(max_length=120, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)
    reserved_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sample was reserved (accepted, or promoted from the waitlist)."
    )
    address_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("review_samplerequest", "Can review sample requests (approve, reject)"),
            ("cancel_samplerequest", "Can cancel sample requests"),
            ("ship_samplerequest", "Can import tracking and mark sample requests delivered"),
            ("export_samplerequest", "Can export sample shipments (names, addresses) as 3PL CSV"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "email_normalized"],
                name="sample_one_per_person_per_campaign",
                violation_error_message="This person has already requested a sample from this campaign.",
            ),
            models.UniqueConstraint(
                fields=["campaign", "household_key"],
                condition=Q(household_key__isnull=False),
                name="sample_one_per_household_per_campaign",
                violation_error_message="This household has already requested a sample from this campaign.",
            ),
            models.UniqueConstraint(
                fields=["partner", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="sample_request_idempotency",
                violation_error_message="This idempotency key was already used by this partner.",
            ),
        ]
        indexes = [models.Index(fields=["campaign", "status", "-priority_score", "created_at"])]

    def __str__(self) -> str:
        return f"{self.email} · {self.campaign}"

    def get_absolute_url(self) -> str:
        return reverse("sampling:request_status", kwargs={"token": self.token})

    @property
    def address_lines(self) -> list[str]:
        lines = [self.ship_name, *self.ship_street_address.splitlines()]
        lines.append(" ".join(p for p in [self.ship_postal_code, self.ship_city] if p))
        lines += [self.ship_country_area, self.ship_country]
        return [line for line in lines if line]


class SampleRequestEvent(models.Model):
    """Audit row: one per status change (who, when, from → to, why)."""

    request = models.ForeignKey(SampleRequest, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=200, help_text="Who: a staff user, a partner, the viewer or the system.")
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status} by {self.actor_label}"


class FollowUpOffer(models.Model):
    """A personal, one-use bundle offer for a shipped sample's requester.

    Window: opens when the next session of the campaign's series starts, closes
    `campaign.offer_hours_after` wall-clock hours after that session ends, in
    the series' timezone. Redeemed once (an order on one of that session's drops).
    NOTE: sampling's own stand-in until commerce coupons land (see sampling/services/followup.py).
    """

    # its page is the buyer's private link: never handed to staff or partners (commerce.staff_access.view_on_site)
    private_link = True

    request = models.OneToOneField(SampleRequest, on_delete=models.CASCADE, related_name="offer")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.PROTECT, related_name="followup_offers")
    percent_off = models.DecimalField(max_digits=5, decimal_places=2)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True, help_text="First time the offer page was viewed.")
    redeemed_at = models.DateTimeField(null=True, blank=True)
    order = models.OneToOneField(
        "commerce.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="followup_offer"
    )
    discount_minor = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")),
                name="followup_offer_closes_after_opens",
                violation_error_message="An offer must close after it opens.",
            ),
            models.CheckConstraint(
                condition=Q(redeemed_at__isnull=True) | Q(order__isnull=False),
                name="followup_offer_redeemed_has_order",
                violation_error_message="A redeemed offer must name the order it was redeemed with.",
            ),
        ]

    def __str__(self) -> str:
        return f"Offer for {self.request.email}"

    def get_absolute_url(self) -> str:
        return reverse("sampling:offer", kwargs={"token": self.token})

    def state_at(self, now) -> str:
        """not_yet_open / open / redeemed / expired."""
        if self.redeemed_at:
            return "redeemed"
        if now < self.opens_at:
            return "not_yet_open"
        if now >= self.closes_at:
            return "expired"
        return "open"


class ReviewQueueItem(SampleRequest):
    """The admin's review queue: requests whose risk score reached the campaign's vetting threshold."""

    class Meta:
        proxy = True
        verbose_name = "review queue item"
        verbose_name_plural = "review queue"
