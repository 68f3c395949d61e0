from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import admin_audit, admin_outbox, admin_pickup  # noqa: F401  (register the audit log, outbox and pop-up pickup admins)
from .audit import admin_action_logged
from .exceptions import CommerceError
from .models import (
    ApiKey,
    Coupon,
    CouponRedemption,
    Customer,
    Drop,
    Hold,
    Order,
    OrderLine,
    Partner,
    PaymentEvent,
    Product,
    Refund,
    Sku,
)
from .models.partner import SCOPE_CHOICES
from .money import format_money
from .pricing import price_schedule_table, price_step_props, validate_tiers
from .selectors import drop_status, with_effective_stock
from .services import api_keys, coupons, drops, orders, refunds
from .staff_access import has_staff_perms, lock_down_app, perm_check

# dj-stripe's and the task queue's admins are for superusers only (hidden and 403 for other staff);
# their apps come before this one in INSTALLED_APPS, so their admins are registered by now.
# Stripe webhook endpoints are registered with `manage.py stripe_webhook_endpoint` (dj-stripe's add form
# calls Stripe and fails without API keys).
lock_down_app(admin.site, "djstripe", no_add=("webhookendpoint",))
lock_down_app(admin.site, "django_q")


class SkuInline(admin.TabularInline):
    model = Sku
    fields = ["code", "options", "price_minor", "currency", "inventory"]
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["title", "handle", "vendor", "product_type", "sku_count", "published"]
    list_filter = ["published", "vendor", "product_type"]
    search_fields = ["title", "handle", "tags", "skus__code"]
    inlines = [SkuInline]

    @admin.display(description="SKUs")
    def sku_count(self, obj):
        return obj.skus.count()


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = ["code", "product", "variant_title", "price", "inventory"]
    list_filter = ["currency", "product__vendor"]
    search_fields = ["code", "product__title", "barcode"]
    list_select_related = ["product"]

    @admin.display(description="Price", ordering="price_minor")
    def price(self, obj):
        return format_money(obj.price_minor, obj.currency)


class DropForm(forms.ModelForm):
    class Meta:
        model = Drop
        fields = [
            "session",
            "sku",
            "title",
            "quantity",
            "price_minor",
            "currency",
            "opens_at",
            "closes_at",
            "per_customer_limit",
            "hold_seconds",
            "pricing",
            "step_percent",
            "step_seconds",
            "floor_price_minor",
            "step_up_tiers",
            "fulfilment",
            "popup",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["price_minor"].required = False
        self.fields["currency"].required = False
        self.fields["price_minor"].help_text = "Minor units (cents). Empty = the SKU's price."

    def clean(self):
        data = super().clean()
        if data.get("opens_at") and data.get("closes_at") and data["closes_at"] <= data["opens_at"]:
            self.add_error("closes_at", "A drop must close after it opens.")
        if data.get("pricing") == Drop.Pricing.STEP_DOWN:
            for name in ("step_percent", "step_seconds", "floor_price_minor"):
                if not data.get(name):
                    self.add_error(name, "Needed for a step-down schedule.")
        if data.get("pricing") == Drop.Pricing.STEP_UP or data.get("step_up_tiers"):
            try:
                data["step_up_tiers"] = validate_tiers(data.get("step_up_tiers") or [])
            except ValueError as exc:
                self.add_error("step_up_tiers", str(exc))
        if data.get("hold_seconds") is not None and data["hold_seconds"] < 60:
            self.add_error("hold_seconds", "A hold must last at least 60 seconds, or nobody can check out.")
        if data.get("fulfilment", Drop.Fulfilment.SHIP) != Drop.Fulfilment.SHIP and not data.get("popup"):
            self.add_error("popup", "Pickup drops need a pop-up.")
        if self.instance.pk and data.get("quantity") is not None:
            sold = self.instance.quantity - self.instance.available
            if data["quantity"] < sold:
                self.add_error("quantity", f"{sold} units are already sold or held.")
        return data


@admin.register(Drop)
class DropAdmin(admin.ModelAdmin):
    form = DropForm
    list_display = [
        "display_title",
        "session",
        "quantity",
        "stock_now",
        "price_now",
        "pricing",
        "opens_at",
        "closes_at",
        "qr",
    ]
    list_filter = ["session__status", "pricing", "currency", "session__series"]
    search_fields = ["title", "sku__code", "sku__product__title", "session__title"]
    list_select_related = ["sku__product", "session"]
    autocomplete_fields = ["sku", "session"]
    readonly_fields = ["available", "price_schedule", "qr"]

    def get_queryset(self, request):
        return with_effective_stock(super().get_queryset(request), now=timezone.now())

    @admin.display(description="Available now")
    def stock_now(self, obj):
        status = drop_status(drop=obj)
        return f"{status['available']} / {obj.quantity} ({status['state'].replace('_', ' ')})"

    @admin.display(description="Price now")
    def price_now(self, obj):
        return format_money(drop_status(drop=obj)["price_minor"], obj.currency)

    @admin.display(description="Price schedule")
    def price_schedule(self, obj):
        if not obj.pk:
            return "Save the drop to see its schedule."
        try:
            validate_tiers(obj.step_up_tiers or [])
            rows = price_schedule_table(obj, now=timezone.now())
        except (ValueError, ArithmeticError):
            return "The step-up tiers are not valid: fix them below."
        tz = timezone.get_current_timezone()
        body = format_html_join(
            "",
            '<tr style="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    "font-weight:bold;background:#efeefe" if r["current"] else "",
                    r["step"],
                    timezone.localtime(r["when"], tz).strftime("%a %d %b %H:%M %Z")
                    if hasattr(r["when"], "tzinfo")
                    else r["when"],
                    format_money(r["unit_price_minor"], obj.currency),
                    "← current" if r["current"] else "",
                )
                for r in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>Step</th><th>From</th><th>Unit price</th><th></th></tr></thead>"
            "<tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="QR (stream overlay)")
    def qr(self, obj):
        if not obj.pk:
            return ""
        url = reverse("commerce:drop_qr", args=[obj.pk])
        return format_html('<a href="{}">view</a> · <a href="{}?download=1">download SVG</a>', url, url)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            fields = {k: v for k, v in data.items() if v not in (None, "")}
            created = drops.drop_create(**fields)
            obj.pk = created.pk
            obj.available = created.available
            return
        quantity = data["quantity"]
        obj.quantity = Drop.objects.get(pk=obj.pk).quantity  # quantity changes go through the service
        obj.save(update_fields=[f for f in DropForm.Meta.fields if f not in ("quantity",)])
        if quantity != obj.quantity:
            drops.drop_set_quantity(drop_id=obj.pk, quantity=quantity)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "created_at", "order_count"]
    search_fields = ["email", "email_normalized", "name"]
    # the address on file is where private links go: never re-pointed in the back office (QA), only the name
    readonly_fields = ["email", "email_normalized", "created_at"]

    @admin.display(description="Orders")
    def order_count(self, obj):
        return obj.orders.count()


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = [
        "title",
        "sku",
        "quantity",
        "unit_price_minor",
        "price_step_applied",
        "discount_minor",
        "total_minor",
        "currency",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="Price step")
    def price_step_applied(self, obj):
        """ "step 2 (−20.00 % of list 50.00)"; "—" for orders placed before steps were recorded."""
        if obj.price_step is None:
            return "—"
        props = price_step_props(obj)
        if props["step_percent"] is None:
            return f"step {obj.price_step}"
        sign = "+" if not props["step_percent"].startswith("-") else ""
        return (
            f"step {obj.price_step} ({sign}{props['step_percent']} % of list "
            f"{format_money(obj.list_price_minor, obj.currency)})"
        )

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "session", "status", "total", "payment_provider", "created_at"]
    list_filter = ["status", "payment_provider", "currency", "created_at"]
    search_fields = ["number", "customer__email", "lines__sku__code"]
    list_select_related = ["customer", "session"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]
    actions = ["mark_paid", "cancel", "fulfil", "refund_full"]
    readonly_fields = [
        "hold",
        "number",
        "customer",
        "session",
        "status",
        "payment_provider",
        "currency",
        "subtotal_minor",
        "discount_minor",
        "total_minor",
        "created_at",
        "paid_at",
        "cancelled_at",
        "refunded_minor",
        "paid_late",
        "payment_reference",
        "provider_payment_id",
        "payment_url",  # set by the payment provider; an edited one would send buyers elsewhere (QA)
        "partner",  # the owner decides which partner reaches it (commerce.access): never reassigned by hand
        "refund_link",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # orders are cancelled or refunded, never deleted

    has_mark_paid_permission = perm_check("commerce.mark_paid_order")
    has_cancel_permission = perm_check("commerce.cancel_order")
    has_fulfil_permission = perm_check("commerce.fulfil_order")
    has_refund_permission = perm_check("commerce.refund_order")

    @admin.display(description="Total", ordering="total_minor")
    def total(self, obj):
        return format_money(obj.total_minor, obj.currency)

    def _run(self, request, queryset, service, verb):
        done = []
        for order in queryset:
            try:
                service(order_id=order.pk)
                done.append(order)
            except CommerceError as exc:
                self.message_user(request, f"{order}: {exc.message}", messages.WARNING)
        admin_action_logged(request, done, f"{verb} (admin action).")
        if done:
            self.message_user(request, f"{verb} {len(done)} order(s).", messages.SUCCESS)

    @admin.action(description="Mark paid (payment received at pickup)", permissions=["mark_paid"])
    def mark_paid(self, request, queryset):
        self._run(request, queryset, orders.order_mark_paid, "Marked paid")

    @admin.action(description="Cancel and return stock", permissions=["cancel"])
    def cancel(self, request, queryset):
        self._run(request, queryset, orders.order_cancel, "Cancelled")

    @admin.action(description="Mark all units fulfilled (shipped / picked up)", permissions=["fulfil"])
    def fulfil(self, request, queryset):
        def run(*, order_id):
            for line in OrderLine.objects.filter(order_id=order_id).order_by("pk"):
                refunds.order_line_fulfil(line_id=line.pk)

        self._run(request, queryset, run, "Marked fulfilled")

    @admin.action(description="Refund in full (through the payment provider)", permissions=["refund"])
    def refund_full(self, request, queryset):
        def run(*, order_id):
            return refunds.refund_create(order_id=order_id, actor=request.user)

        self._run(request, queryset, run, "Refund queued for")

    @admin.display(description="Partial refund")
    def refund_link(self, obj):
        if not obj.pk or obj.status not in (Order.Status.PAID, Order.Status.REFUNDED):
            return "—"
        return format_html(
            '<a href="{}?order={}">Refund units or an amount…</a>', reverse("admin:commerce_refund_add"), obj.pk
        )


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "contact_email", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "contact_email"]
    inlines = [ApiKeyInline]
    readonly_fields = ["webhook_secret"]  # signs outgoing webhooks (docs/outbox.md)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Exactly the scopes ticked; none ticked = no scope. Tick shop only for the shop's own integrations.",
    )

    class Meta:
        model = ApiKey
        fields = ["partner", "name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["__str__", "partner", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["partner", "revoked_at"]
    search_fields = ["name", "prefix", "partner__name"]
    actions = ["revoke"]

    has_revoke_permission = perm_check("commerce.revoke_apikey")

    def get_readonly_fields(self, request, obj=None):
        return ["partner", "prefix", "created_at", "last_used_at", "revoked_at"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "scopes"])
            return
        key, raw = api_keys.api_key_create(
            partner=form.cleaned_data["partner"], name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
        )
        obj.pk, obj.prefix, obj.key_hash = key.pk, key.prefix, key.key_hash
        self.message_user(
            request,
            format_html("New API key (copy it now, it is not shown again): <code>{}</code>", raw),
            messages.WARNING,
        )

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        keys = [api_keys.api_key_revoke(key_id=key.pk) for key in queryset]
        admin_action_logged(request, keys, "Revoked (admin action).")
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)


class CouponForm(forms.ModelForm):
    class Meta:
        model = Coupon
        fields = [
            "code",
            "kind",
            "percent_off",
            "amount_off_minor",
            "currency",
            "valid_from",
            "valid_until",
            "session",
            "drop",
            "sku",
            "customer",
            "max_redemptions",
            "per_customer_limit",
            "is_active",
            "note",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("valid_from", "valid_until"):
            self.fields[name].help_text = f"In the shop's timezone ({settings.SHOP_TIMEZONE})."
        self.fields["code"].help_text = "Case-insensitive; stored upper-case. Leave empty for a random code."
        self.fields["code"].required = False

    def clean_code(self):
        code = (self.cleaned_data.get("code") or "").strip().upper() or coupons.coupon_code_generate()
        if not coupons.CODE_PATTERN.fullmatch(code):
            raise forms.ValidationError("3–40 letters, digits, '-' or '_' (no spaces).")
        return code

    def clean(self):
        data = super().clean()
        if data.get("valid_from") and data.get("valid_until") and data["valid_until"] <= data["valid_from"]:
            self.add_error("valid_until", "Must be after the start.")
        if data.get("kind") == Coupon.Kind.PERCENT and not data.get("percent_off"):
            self.add_error("percent_off", "Needed for a percent coupon.")
        if data.get("kind") == Coupon.Kind.FIXED:
            if not data.get("amount_off_minor"):
                self.add_error("amount_off_minor", "Needed for a fixed coupon.")
            if not data.get("currency"):
                self.add_error("currency", "Needed for a fixed coupon.")
        if sum(bool(data.get(k)) for k in ("session", "drop", "sku")) > 1:
            self.add_error(None, "Scope a coupon to at most one of session, drop or SKU.")
        return data


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    form = CouponForm
    list_display = ["code", "kind", "value", "valid_window", "scope", "redemptions", "max_redemptions", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "note"]
    autocomplete_fields = ["session", "drop", "sku", "customer"]
    readonly_fields = ["redemptions"]

    @admin.display(description="Value")
    def value(self, obj):
        return (
            f"{obj.percent_off}%"
            if obj.kind == Coupon.Kind.PERCENT
            else format_money(obj.amount_off_minor, obj.currency)
        )

    @admin.display(description=f"Valid ({settings.SHOP_TIMEZONE})")
    def valid_window(self, obj):
        fmt = "%d %b %H:%M"
        return f"{timezone.localtime(obj.valid_from):{fmt}} → {timezone.localtime(obj.valid_until):{fmt} %Z}"

    @admin.display(description="Scope")
    def scope(self, obj):
        return obj.session or obj.drop or obj.sku or "all drops"


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(admin.ModelAdmin):
    list_display = ["coupon", "order", "customer", "discount_minor", "voided_at", "created_at"]
    list_select_related = ["coupon", "order", "customer"]
    search_fields = ["coupon__code", "order__number", "customer__email"]

    def has_add_permission(self, request):
        return False


@admin.register(Hold)
class HoldAdmin(admin.ModelAdmin):
    list_display = ["drop", "customer", "quantity", "unit_price", "status", "expires_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["customer__email", "drop__title", "drop__sku__code", "token"]
    list_select_related = ["drop__sku__product", "customer"]
    readonly_fields = [f.name for f in Hold._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Unit price")
    def unit_price(self, obj):
        return format_money(obj.unit_price_minor, obj.currency)


class RefundForm(forms.ModelForm):
    units = forms.CharField(
        required=False,
        help_text="Units per line to refund, as line id: units, comma-separated (e.g. 12: 1). "
        "Leave empty and give an amount for a goodwill refund, or leave both empty to refund everything left.",
    )
    amount = forms.IntegerField(required=False, min_value=1, help_text="Minor units (cents).")

    class Meta:
        model = Refund
        fields = ["order", "reason"]

    def clean(self):
        data = super().clean()
        lines = {}
        for part in filter(None, (p.strip() for p in (data.get("units") or "").split(","))):
            try:
                line_id, units = (int(x) for x in part.split(":"))
            except ValueError:
                self.add_error("units", f"{part!r} is not 'line id: units'.")
                return data
            lines[line_id] = units
        data["lines"] = lines or None
        return data


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    form = RefundForm
    list_display = [
        "__str__",
        "order",
        "amount",
        "reason",
        "origin",
        "status",
        "restocked_units",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "origin", "reason"]
    search_fields = ["order__number", "provider_reference"]
    list_select_related = ["order", "created_by"]
    autocomplete_fields = ["order"]

    def get_changeform_initial_data(self, request):
        return {"order": request.GET.get("order")}

    def has_add_permission(self, request):
        # a refund is money leaving the shop: the refund permission, not just add_refund
        return has_staff_perms(request.user, ["commerce.add_refund", "commerce.refund_order"])

    def has_delete_permission(self, request, obj=None):
        return False  # money history

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Refund._meta.fields] if obj else []

    @admin.display(description="Amount")
    def amount(self, obj):
        return format_money(obj.amount_minor, obj.currency)

    def save_model(self, request, obj, form, change):
        if change:
            return
        refund = refunds.refund_create(
            order_id=form.cleaned_data["order"].pk,
            lines=form.cleaned_data.get("lines"),
            amount_minor=form.cleaned_data.get("amount") if not form.cleaned_data.get("lines") else None,
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
        obj.pk = refund.pk

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except CommerceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            from django.shortcuts import redirect

            return redirect(request.get_full_path())


@admin.register(PaymentEvent)
class PaymentEventAdmin(admin.ModelAdmin):
    list_display = ["key", "order", "outcome", "amount_minor", "currency", "event_id", "created_at"]
    list_filter = ["provider", "outcome"]
    search_fields = ["key", "order__number", "event_id"]
    readonly_fields = [f.name for f in PaymentEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # money history
