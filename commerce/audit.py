"""Audit log of staff actions and money movements (django-auditlog), and who did it.

What is recorded: django-auditlog writes one `auditlog.LogEntry` per saved object of the models in
`AUDITED` (create / update with each changed field's before → after / delete). Writes that bypass
`save()` (a `queryset.update()`, the conditional UPDATEs of `commerce.locks`) are not seen by it:
the services that change audited fields that way call `audit_change(...)` themselves. Admin actions
also write Django's admin `LogEntry` per affected object (`admin_action_logged`), shown on the
object's History page.

Who: `AuditActorMiddleware` keeps the current request in a context variable; when an entry is saved
it is stamped with the logged-in user, or, without one, with a label in `actor_email`
("system: Stripe webhook", "partner API", "visitor"); outside any request (task queue, management
commands) the label is "system". One correlation id per request (`cid`) groups a bulk action's
entries. One permanent receiver does the stamping: unlike auditlog's own middleware, nothing is
connected or disconnected per request, so storefront requests pay one context-variable set.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

from django.contrib.admin.models import CHANGE
from django.contrib.admin.models import LogEntry as AdminLogEntry

from config.client_ip import client_ip

_request: ContextVar = ContextVar("mm_audit_request", default=None)
_cid: ContextVar = ContextVar("mm_audit_cid", default=None)
_system_label: ContextVar = ContextVar("mm_audit_system_label", default=None)

SYSTEM = "system"
STRIPE = "system: Stripe webhook"


class AuditActorMiddleware:
    """Remember the request so audit entries written while serving it name its user (or caller)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        cid_token = _cid.set(None)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)
            _cid.reset(cid_token)


class system_actor:  # noqa: N801 (used as a context manager, like a function)
    """`with system_actor("system: refund reconciliation"):` labels entries written inside it."""

    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        self._token = _system_label.set(self.label)

    def __exit__(self, *exc):
        _system_label.reset(self._token)


def current_cid() -> str | None:
    """The correlation id of the current request (AUDITLOG_CID_GETTER): made on the first entry written."""
    if _request.get() is None:
        return None
    cid = _cid.get()
    if cid is None:
        cid = uuid.uuid4().hex[:16]
        _cid.set(cid)
    return cid


def _caller_label(request) -> str:
    path = request.path
    if path.startswith("/stripe/"):
        return STRIPE
    if path.startswith("/api/"):
        caller = getattr(request, "caller", None)  # set by config.api.PartnerKey once the key is known
        return f"partner API ({caller.label})"[:254] if caller is not None else "partner API"
    return "visitor"


def stamp_actor(sender, instance, **kwargs) -> None:
    """pre_save receiver on auditlog's LogEntry: fill in actor / actor_email / remote_addr."""
    if instance.pk is not None or instance.actor_id is not None:
        return
    label = _system_label.get()
    request = _request.get()
    if label is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            instance.actor = user
            instance.actor_email = getattr(user, "email", "") or None
        else:
            instance.actor_email = _caller_label(request)
        # the client as the trusted proxies report it (config.client_ip): forwarded headers from anyone else are ignored
        instance.remote_addr = instance.remote_addr or client_ip(request) or None
        return
    if not instance.actor_email:
        instance.actor_email = label or SYSTEM


def actor_label(entry) -> str:
    """How an entry's actor is shown: the user, else the recorded label, else "system"."""
    if entry.actor_id:
        return str(entry.actor)
    return entry.actor_email or SYSTEM


# --- what is audited -------------------------------------------------------------------------------

AUDITED: dict[str, dict] = {
    "commerce.Order": {
        "include_fields": [
            "number",
            "status",
            "payment_provider",
            "currency",
            "subtotal_minor",
            "discount_minor",
            "total_minor",
            "shipping_minor",
            "tax_minor",
            "tax_included",
            "shipping_address",
            "refunded_minor",
            "paid_at",
            "cancelled_at",
            "paid_late",
            "payment_reference",
            "provider_payment_id",
            "payment_url",
            "partner",
            "customer",
        ]
    },
    "commerce.Customer": {"include_fields": ["email", "name"]},
    "commerce.OrderLine": {},
    "commerce.Refund": {},
    "commerce.Receipt": {},
    "commerce.CreditNote": {},
    "commerce.PaymentEvent": {},
    "commerce.Drop": {"exclude_fields": ["available"]},
    "commerce.Coupon": {"exclude_fields": ["redemptions"]},
    "commerce.Sku": {"include_fields": ["code", "price_minor", "currency", "inventory"]},
    "commerce.ProductImage": {"include_fields": ["product", "sku", "position", "original", "source_url", "alt_text"]},
    "commerce.Partner": {},
    "commerce.ApiKey": {"exclude_fields": ["key_hash", "last_used_at"]},
    "commerce.PopUp": {"m2m_fields": {"sessions"}},
    "commerce.PickupSlot": {"exclude_fields": ["available"]},
    "commerce.PickupBooking": {},
    "commerce.ShippingRate": {},
    # memberships (docs/memberships.md): plan prices and membership states; never the member's pass
    "commerce.MembershipPlan": {},
    "commerce.Membership": {"exclude_fields": ["pass_token", "checkout_url", "updated_at"]},
    "commerce.TaxRate": {},
    "commerce.Bundle": {"exclude_fields": ["seats_available"]},  # bundles and trial returns (docs/bundles.md)
    "commerce.TrialReturn": {},
    "sessions_app.Series": {},
    "sessions_app.LiveSession": {},
    # Session assets: who uploaded, cut, retitled, unpublished or re-timed a recording or clip
    # (job progress and processing results are the worker's, not staff changes).
    "sessions_app.Recording": {"include_fields": ["session", "original_name", "started_at", "state", "asset"]},
    "sessions_app.Clip": {
        "include_fields": ["title", "drop", "start_ms", "end_ms", "is_public", "state", "asset", "recording"]
    },
    "sessions_app.SessionMoment": {},
    "sampling.SampleCampaign": {"exclude_fields": ["available"]},
    "sampling.SampleRequest": {"exclude_fields": ["token"]},
    "analytics.Experiment": {},
    "analytics.SessionCost": {},
    "auth.User": {"exclude_fields": ["password", "last_login"], "m2m_fields": {"groups", "user_permissions"}},
    "auth.Group": {"m2m_fields": {"permissions"}},
}


def register_models() -> None:
    """Register AUDITED with django-auditlog and connect the actor stamp (called from CommerceConfig.ready)."""
    from auditlog import get_logentry_model
    from auditlog.registry import auditlog
    from django.apps import apps
    from django.db.models.signals import pre_save

    for label, options in AUDITED.items():
        model = apps.get_model(label)
        if not auditlog.contains(model):
            auditlog.register(model, **options)
    pre_save.connect(stamp_actor, sender=get_logentry_model(), dispatch_uid="commerce.audit.stamp_actor")


def audit_change(instance, changes: dict[str, tuple], *, action: str = "update"):
    """Record a change made without `save()` (a conditional UPDATE): `changes` = {field: (before, after)}.

    Values are stored as text, like auditlog's own entries. Returns the entry (None if nothing changed).
    """
    from auditlog import get_logentry_model

    LogEntry = get_logentry_model()
    changed = {k: [str(b), str(a)] for k, (b, a) in changes.items() if b != a}
    if not changed:
        return None
    flag = {"create": LogEntry.Action.CREATE, "update": LogEntry.Action.UPDATE, "delete": LogEntry.Action.DELETE}
    return LogEntry.objects.log_create(instance, action=flag[action], changes=changed)


def admin_action_logged(request, objects, message: str) -> None:
    """Django admin LogEntry (History page) for each object an admin action changed."""
    objects = list(objects)
    if objects and request.user.is_authenticated:
        AdminLogEntry.objects.log_actions(
            user_id=request.user.pk, queryset=objects, action_flag=CHANGE, change_message=message
        )
