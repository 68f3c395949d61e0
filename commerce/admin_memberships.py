"""Back office of memberships (docs/memberships.md): plans, memberships, the events applied to them.

- Plans: price per week or month typed in major units (commerce.admin_money), currency, perks, grace days,
  Stripe ids; action "Create Stripe product and price" (commerce.change_membershipplan, audited).
- Memberships: read-only (status, period end, grace, the events applied as an inline); actions
  "End now" and "Cancel at period end" (commerce.manage_membership, audited). The pass token is never shown.
- Membership events: read-only, for the audit of duplicated and out-of-order deliveries.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from .admin_money import MoneyAdminMixin, money_column
from .audit import admin_action_logged
from .exceptions import CommerceError
from .memberships import services_billing
from .memberships.models import Membership, MembershipEvent, MembershipPlan
from .memberships.stripe_billing import stripe_configured
from .staff_access import perm_check


@admin.register(MembershipPlan)
class MembershipPlanAdmin(MoneyAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        money_column("price_minor"),
        "interval",
        "grace_days",
        "is_active",
        "stripe_price_id",
    ]
    list_filter = ["is_active", "interval"]
    prepopulated_fields = {"slug": ["name"]}
    money_fields = {"price_minor": "currency"}
    actions = ["stripe_setup"]
    has_stripe_setup_permission = perm_check("commerce.change_membershipplan")

    @admin.action(description="Create Stripe product and price", permissions=["stripe_setup"])
    def stripe_setup(self, request, queryset):
        if not stripe_configured():
            self.message_user(request, "Stripe keys are not set (PAYMENT_PROVIDER is manual).", messages.WARNING)
            return
        done = []
        for plan in queryset.order_by("pk"):
            try:
                done.append(services_billing.plan_stripe_setup(plan_id=plan.pk))
            except CommerceError as exc:
                self.message_user(request, f"{plan}: {exc.message}", messages.ERROR)
        admin_action_logged(request, done, "Created the Stripe product and recurring price")
        if done:
            self.message_user(request, f"{len(done)} plan(s) now sell through Stripe.", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        return False  # memberships refer to it: make it inactive instead


class MembershipEventInline(admin.TabularInline):
    model = MembershipEvent
    fields = ["received_at", "type", "outcome", "created", "amount_minor", "currency", "key"]
    readonly_fields = fields
    extra = 0
    ordering = ["-received_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = [
        "customer",
        "plan",
        "status",
        "cancel_at_period_end",
        "current_period_end",
        "grace_until",
        "provider",
        "created_at",
    ]
    list_filter = ["status", "provider", "plan", "cancel_at_period_end"]
    list_select_related = ["customer", "plan"]
    search_fields = ["customer__email", "stripe_subscription_id", "stripe_customer_id"]
    exclude = ["pass_token", "checkout_url"]  # the member's secrets
    readonly_fields = [f.name for f in Membership._meta.fields if f.name not in ("pass_token", "checkout_url")]
    inlines = [MembershipEventInline]
    actions = ["end_now", "cancel_at_period_end_action"]
    has_manage_permission = perm_check("commerce.manage_membership")

    def has_add_permission(self, request):
        return False  # members join on /members/ (or through Stripe Checkout)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="End now (Stripe: cancels the subscription)", permissions=["manage"])
    def end_now(self, request, queryset):
        ended = []
        for m in queryset.exclude(status=Membership.Status.ENDED).order_by("pk"):
            try:
                ended.append(
                    services_billing.membership_end_now(
                        membership_id=m.pk, now=timezone.now(), actor=f"staff:{request.user.get_username()}"
                    )
                )
            except CommerceError as exc:
                self.message_user(request, f"{m}: {exc.message}", messages.ERROR)
        admin_action_logged(request, ended, "Ended the membership now")
        if ended:
            self.message_user(request, f"{len(ended)} membership(s) ended.", messages.SUCCESS)

    @admin.action(description="Cancel at period end", permissions=["manage"])
    def cancel_at_period_end_action(self, request, queryset):
        changed = []
        for m in queryset.filter(status__in=[Membership.Status.ACTIVE, Membership.Status.PAST_DUE]).order_by("pk"):
            try:
                changed.append(
                    services_billing.membership_cancel_at_period_end(
                        membership_id=m.pk,
                        cancel=True,
                        now=timezone.now(),
                        actor=f"staff:{request.user.get_username()}",
                    )
                )
            except CommerceError as exc:
                self.message_user(request, f"{m}: {exc.message}", messages.ERROR)
        admin_action_logged(request, changed, "Set to cancel at period end")
        if changed:
            self.message_user(request, f"{len(changed)} membership(s) will end at period end.", messages.SUCCESS)


@admin.register(MembershipEvent)
class MembershipEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "type", "outcome", "membership", "created", "key"]
    list_filter = ["outcome", "type", "provider"]
    search_fields = ["key", "membership__customer__email"]
    readonly_fields = [f.name for f in MembershipEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
