from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import admin_audit, admin_outbox, admin_pickup, admin_shipping  # noqa: F401  (register the audit log, outbox, pop-up pickup and shipping/tax admins)
from .admin_dashboard import orders_to_fulfil
from .admin_export import OrderExportMixin
from .admin_images import ProductImageForm, product_image_state_label, product_images_summary
from .admin_money import MoneyAdminMixin, money_column, money_text
from .admin_receipts import OrderDocumentsMixin, refundable_amount
from .admin_waitlist import WaitlistDropAdminMixin  # also registers the waitlist/transfer admins
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
    ProductImage,
    Refund,
    Sku,
)
from .models.drop import MAX_STOCK_SHARDS
from .models.partner import SCOPE_CHOICES
from .money import format_money
from .pricing import price_schedule_table, price_step_props, validate_tiers
from .selectors import drop_status, with_effective_stock
from .services import api_keys, coupons, drops, orders, product_images, refunds
from .shipping import no_shipping_rate_message, shipping_enabled
from .staff_access import has_staff_perms, lock_down_app, perm_check
from .zoned_fields import END_OF_DAY, START_OF_DAY, LocalDateTimeField

# dj-stripe's and the task queue's admins are for superusers only (hidden and 403 for other staff);
# their apps come before this one in INSTALLED_APPS, so their admins are registered by now.
# Stripe webhook endpoints are registered with `manage.py stripe_webhook_endpoint` (dj-stripe's add form
# calls Stripe and fails without API keys).
lock_down_app(admin.site, "djstripe", no_add=("webhookendpoint",))
lock_down_app(admin.site, "django_q")


class SkuInline(MoneyAdminMixin, admin.TabularInline):
    model = Sku
    fields = ["code", "options", "price_minor", "currency", "inventory"]
    money_fields = {"price_minor": "currency"}
    extra = 0


class ProductImageInline(admin.TabularInline):
    """Upload pictures (checked by content, size and pixel count); thumbnails are made in the background."""

    model = ProductImage
    form = ProductImageForm
    fields = ["preview", "original", "sku", "position", "alt_text", "source_url", "image_state"]
    readonly_fields = ["preview", "source_url", "image_state"]
    extra = 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if "sku" in formset.form.base_fields:  # a new form class per call: safe to narrow here
            formset.form.base_fields["sku"].queryset = Sku.objects.filter(product=obj) if obj else Sku.objects.none()
        return formset

    @admin.display(description="Thumbnail")
    def preview(self, obj):
        items = obj.srcset_items() if obj.pk else []
        return format_html('<img src="{}" width="80" alt="">', items[0][0]) if items else "—"

    @admin.display(description="State")
    def image_state(self, obj):
        return product_image_state_label(obj) if obj.pk else "—"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["title", "handle", "vendor", "product_type", "sku_count", "images_state", "published"]
    list_filter = ["published", "vendor", "product_type", "images__state"]
    search_fields = ["title", "handle", "tags", "skus__code"]
    inlines = [SkuInline, ProductImageInline]
    actions = ["images_retry"]

    @admin.display(description="SKUs")
    def sku_count(self, obj):
        return obj.skus.count()

    @admin.display(description="Images")
    def images_state(self, obj):
        return product_images_summary(obj.images.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("images")

    has_images_retry_permission = perm_check("commerce.change_productimage")

    @admin.action(description="Fetch images and make thumbnails again", permissions=["images_retry"])
    def images_retry(self, request, queryset):
        count = product_images.product_images_retry(product_ids=list(queryset.values_list("pk", flat=True)))
        admin_action_logged(request, list(queryset), "Queued product images again (admin action).")
        self.message_user(request, f"Queued {count} image(s) that were not ready.", messages.SUCCESS)

    def delete_model(self, request, obj):
        with transaction.atomic():
            product_images.product_image_files_delete_on_commit(product_ids=[obj.pk])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            product_images.product_image_files_delete_on_commit(product_ids=list(queryset.values_list("pk", flat=True)))
            super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        if formset.model is not ProductImage:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for image in formset.deleted_objects:
            product_images.product_image_delete(image=image)
        for image_form in formset.forms:
            if image_form in formset.deleted_forms or not image_form.has_changed() or not image_form.is_valid():
                continue
            product_images.product_image_save(
                image=image_form.instance, original_changed="original" in image_form.changed_data
            )
        return None


@admin.register(Sku)
class SkuAdmin(MoneyAdminMixin, admin.ModelAdmin):
    money_fields = {"price_minor": "currency", "compare_at_minor": "currency"}
    list_display = ["code", "product", "title", "price", "inventory"]
    list_filter = ["currency", "product__vendor"]
    search_fields = ["code", "product__title", "barcode"]
    list_select_related = ["product"]

    price = money_column("price_minor", description="Price")


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
            "carry_over",
            "members_only",  # exclusive to members, with their price (docs/members-only.md)
            "member_price_minor",
            "stock_shards",  # hot drops: the stock spread over N counter rows (docs/holds-and-stock.md)
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # staff with view rights only get a form without editable fields: nothing to set up
        if "price_minor" in self.fields:
            self.fields["price_minor"].required = False
            self.fields["price_minor"].help_text = "Empty = the SKU's price (in its currency, unless one is chosen)."
        if "currency" in self.fields:
            self.fields["currency"].required = False
        if "stock_shards" in self.fields:
            self.fields["stock_shards"].required = False  # empty: unchanged (1 for a new drop)
            self.fields["stock_shards"].widget.attrs["min"] = 1

    def clean(self):
        data = super().clean()
        sku = data.get("sku")
        if sku and self.instance.pk:  # on creation drop_create fills these in from the SKU
            data["currency"] = data.get("currency") or sku.currency
            if data.get("price_minor") is None and "price_minor" not in self.errors:
                data["price_minor"] = sku.price_minor if data["currency"] == sku.currency else None
                if data["price_minor"] is None:
                    self.add_error(
                        "price_minor", f"Give a price in {data['currency']} (the SKU is priced in {sku.currency})."
                    )
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
        shards = data.get("stock_shards")
        if shards is None and "stock_shards" not in self.errors:
            data["stock_shards"] = shards = self.instance.stock_shards or 1
        if shards is not None and not 1 <= shards <= MAX_STOCK_SHARDS:
            self.add_error("stock_shards", f"Between 1 and {MAX_STOCK_SHARDS} counter rows.")
        if self.instance.pk and data.get("quantity") is not None:
            sold = self.instance.sold_or_held
            if data["quantity"] < sold:
                self.add_error("quantity", f"{sold} units are already sold or held.")
        return data


def drop_currency(form) -> str:
    """The currency a drop's amounts are typed in: the one chosen on the form, else its SKU's."""
    data = getattr(form, "cleaned_data", None)
    if data is not None:
        sku = data.get("sku")
        return data.get("currency") or (sku.currency if sku else "")
    instance = form.instance
    return instance.currency or (instance.sku.currency if instance.sku_id else "")


@admin.register(Drop)
class DropAdmin(WaitlistDropAdminMixin, MoneyAdminMixin, admin.ModelAdmin):
    form = DropForm
    money_fields = {
        "price_minor": drop_currency,
        "floor_price_minor": drop_currency,
        "member_price_minor": drop_currency,
    }
    # the state and price first, quantity inside "Available now": readable at 1366 px (docs/back-office.md)
    list_display = ["display_title", "stock_now", "price_now", "session", "opens_at", "closes_at", "pricing", "qr"]
    list_filter = ["session__status", "pricing", "currency", "session__series"]
    search_fields = ["title", "sku__code", "sku__product__title", "session__title"]
    list_select_related = ["sku__product", "session"]
    autocomplete_fields = ["sku", "session"]
    readonly_fields = ["available_total", "price_schedule", "qr"]

    def get_queryset(self, request):
        return with_effective_stock(super().get_queryset(request), now=timezone.now())

    @admin.display(description="Available now")
    def stock_now(self, obj):
        status = drop_status(drop=obj)
        return f"{status['available']} / {obj.quantity} ({status['state'].replace('_', ' ')})"

    @admin.display(description="Available")
    def available_total(self, obj):
        """Units neither sold nor held, over all stock shards (the form's own `available` is shard 0 only)."""
        if not obj.pk:
            return "-"
        if obj.stock_shards <= 1:
            return obj.total_available
        return f"{obj.total_available} (over {obj.stock_shards} counter rows)"

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
        self._warn_without_shipping_rate(request, data)
        if not change:
            fields = {k: v for k, v in data.items() if v not in (None, "")}
            created = drops.drop_create(**fields)
            obj.pk = created.pk
            obj.available = created.available
            return
        quantity, shards = data["quantity"], data["stock_shards"]
        # quantity and shard changes go through the services (they move units under the rows' locks)
        obj.quantity, obj.stock_shards = Drop.objects.values_list("quantity", "stock_shards").get(pk=obj.pk)
        obj.save(update_fields=[f for f in DropForm.Meta.fields if f not in ("quantity", "stock_shards")])
        if quantity != obj.quantity:
            drops.drop_set_quantity(drop_id=obj.pk, quantity=quantity)
        if shards != obj.stock_shards:
            drops.drop_set_stock_shards(drop_id=obj.pk, shards=shards)

    def _warn_without_shipping_rate(self, request, data):
        """A drop that may ship, in a currency with no active shipping rate: say what buyers will see."""
        currency = (data.get("currency") or "").upper()
        if data.get("fulfilment") == Drop.Fulfilment.PICKUP or not currency:
            return
        if not shipping_enabled(currency=currency):
            self.message_user(request, no_shipping_rate_message(currency), messages.WARNING)


class CustomerOrderInline(admin.TabularInline):
    """The customer's orders on their page, newest first, each linking to its order page in the admin."""

    model = Order
    fk_name = "customer"
    verbose_name_plural = "orders"
    order_total = money_column("total_minor", description="Total")
    fields = ["number", "status", "order_total", "session", "created_at", "paid_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    extra = 0
    ordering = ["-created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("session")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # shown read-only; an order changes through its own actions

    def has_delete_permission(self, request, obj=None):
        return False  # orders are cancelled or refunded, never deleted


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "created_at", "order_count"]
    search_fields = ["email", "email_normalized", "name"]
    # the address on file is where private links go: never re-pointed in the back office (QA), only the name
    readonly_fields = ["email", "email_normalized", "created_at"]
    inlines = [CustomerOrderInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(order_total_count=Count("orders"))

    @admin.display(description="Orders", ordering="order_total_count")
    def order_count(self, obj):
        return obj.order_total_count


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    unit_price = money_column("unit_price_minor", description="Unit price")
    discount = money_column("discount_minor", description="Discount")
    line_total = money_column("total_minor", description="Total")
    fields = [
        "title",
        "sku",
        "quantity",
        "unit_price",
        "price_step_applied",
        "discount",
        "line_total",
        "fulfilled_quantity",
        "refunded_quantity",
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


class FulfilmentFilter(admin.SimpleListFilter):
    """Orders with units still to ship or hand over (paid, not fulfilled, not refunded): the landing page's link."""

    title = "fulfilment"
    parameter_name = "fulfilment"

    def lookups(self, request, model_admin):
        return [("open", "To fulfil")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(pk__in=orders_to_fulfil().values("pk"))
        return queryset


@admin.register(Order)
class OrderAdmin(
    OrderDocumentsMixin, OrderExportMixin, admin.ModelAdmin
):  # refunds per line, receipts (admin_receipts)
    # Status and Total first after the number: readable at 1366 px (docs/back-office.md)
    list_display = ["number", "status", "total", "customer", "session", "created_at"]
    list_filter = ["status", FulfilmentFilter, "payment_provider", "currency", "created_at"]
    search_fields = ["number", "customer__email", "lines__sku__code"]
    list_select_related = ["customer", "session"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]
    actions = ["mark_paid", "cancel", "fulfil", "refund_full", "download_receipts", "export_csv"]
    subtotal = money_column("subtotal_minor", description="Subtotal")
    discount = money_column("discount_minor", description="Discount")
    shipping = money_column("shipping_minor", description="Shipping")
    tax = money_column("tax_minor", description="Tax")
    refunded = money_column("refunded_minor", description="Refunded")
    order_total = money_column("total_minor", description="Total")
    # everything is read-only: an order changes through its actions (pay, cancel, fulfil, refund), never by typing
    fieldsets = [
        (
            None,
            {"fields": ["number", "status", "customer", "session", "partner", "created_at", "paid_at", "cancelled_at"]},
        ),
        ("Money", {"fields": ["subtotal", "discount", "shipping", "tax", "tax_included", "order_total", "refunded"]}),
        ("Shipping", {"fields": ["shipping_rate_name", "shipping_address"]}),
        (
            "Payment",
            {
                "fields": [
                    "payment_provider",
                    "paid_late",
                    "payment_reference",
                    "provider_payment_id",
                    "payment_url",
                    "hold",
                    "refund_link",
                    "documents",
                ]
            },
        ),
    ]
    readonly_fields = [
        "hold",
        "number",
        "customer",
        "session",
        "status",
        "payment_provider",
        "subtotal",
        "discount",
        "shipping",
        "tax",
        "tax_included",
        "order_total",
        "refunded",
        "shipping_rate_name",
        "shipping_address",
        "created_at",
        "paid_at",
        "cancelled_at",
        "paid_late",
        "payment_reference",
        "provider_payment_id",
        "payment_url",  # set by the payment provider; an edited one would send buyers elsewhere (QA)
        "partner",  # the owner decides which partner reaches it (commerce.access): never reassigned by hand
        "refund_link",
        "documents",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # orders are cancelled or refunded, never deleted

    has_mark_paid_permission = perm_check("commerce.mark_paid_order")
    has_cancel_permission = perm_check("commerce.cancel_order")
    has_fulfil_permission = perm_check("commerce.fulfil_order")
    has_refund_permission = perm_check("commerce.refund_order")

    total = money_column("total_minor", description="Total")

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

    @admin.action(description="Mark paid (payment received)", permissions=["mark_paid"])
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

    @admin.display(description="Refund")
    def refund_link(self, obj):
        if not obj.pk or obj.status not in (Order.Status.PAID, Order.Status.REFUNDED) or not refundable_amount(obj):
            return "—"
        url = reverse("admin:commerce_order_refund", args=[obj.pk])
        return format_html('<a href="{}">Refund per line, an amount, or the rest…</a>', url)


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
    # Typed as a local date + optional time in the shop's zone (commerce.zoned_fields): an empty
    # "valid until" time is the end of that day, 23:59:59.999999 (docs/sessions-and-times.md).
    valid_from = LocalDateTimeField(zone=settings.SHOP_TIMEZONE, empty_time=START_OF_DAY)
    valid_until = LocalDateTimeField(zone=settings.SHOP_TIMEZONE, empty_time=END_OF_DAY)

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
        zone = settings.SHOP_TIMEZONE
        for name in ("valid_from", "valid_until"):
            self.fields[name].set_zone(zone)
        self.fields["valid_from"].help_text = f"Date and time in {zone}. Empty time = the start of that day (00:00)."
        self.fields["valid_until"].help_text = (
            f"Date and time in {zone}. Empty time = the end of that day (23:59:59), so a date-only cutoff "
            "covers the whole day. Buyers see the cutoff with its zone."
        )
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
            self.add_error("percent_off", "A percent coupon needs a percentage from 1 to 100.")
        if data.get("kind") == Coupon.Kind.FIXED:
            if not data.get("amount_off_minor"):
                self.add_error("amount_off_minor", "Needed for a fixed coupon.")
            if not data.get("currency"):
                self.add_error("currency", "Needed for a fixed coupon.")
        if sum(bool(data.get(k)) for k in ("session", "drop", "sku")) > 1:
            self.add_error(None, "Scope a coupon to at most one of session, drop or SKU.")
        return data


@admin.register(Coupon)
class CouponAdmin(MoneyAdminMixin, admin.ModelAdmin):
    form = CouponForm
    money_fields = {"amount_off_minor": "currency"}
    list_display = ["code", "is_active", "value", "valid_window", "scope", "redemptions", "max_redemptions", "kind"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "note"]
    autocomplete_fields = ["session", "drop", "sku", "customer"]
    readonly_fields = ["redemptions"]

    @admin.display(description="Value")
    def value(self, obj):
        return (
            f"{obj.percent_off}%" if obj.kind == Coupon.Kind.PERCENT else money_text(obj.amount_off_minor, obj.currency)
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
    list_display = ["coupon", "order", "customer", "discount", "voided_at", "created_at"]
    discount = money_column("discount_minor", "order.currency", description="Discount")
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


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        # a refund is money leaving the shop: the refund permission, not just add_refund
        return has_staff_perms(request.user, ["commerce.add_refund", "commerce.refund_order"])

    def has_delete_permission(self, request, obj=None):
        return False  # money history

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Refund._meta.fields] if obj else []

    amount = money_column("amount_minor", description="Amount")

    def add_view(self, request, form_url="", extra_context=None):
        """Refunds are chosen on the order's refund page (per line, an amount, or the rest): go there."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        raw = request.GET.get("order", "")
        order = Order.objects.filter(pk=int(raw)).first() if raw.isdecimal() and len(raw) < 19 else None
        if order is None:
            self.message_user(request, "Open the order to refund and use its Refund link.", messages.INFO)
            return redirect("admin:commerce_order_changelist")
        return redirect("admin:commerce_order_refund", object_id=order.pk)


@admin.register(PaymentEvent)
class PaymentEventAdmin(admin.ModelAdmin):
    list_display = ["key", "order", "outcome", "amount", "event_id", "created_at"]
    amount = money_column("amount_minor", description="Amount")
    list_filter = ["provider", "outcome"]
    search_fields = ["key", "order__number", "event_id"]
    readonly_fields = [f.name for f in PaymentEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # money history


from . import admin_memberships  # noqa: E402, F401, I001  (plans, memberships, membership events)
from . import admin_watch  # noqa: E402, F401  (watch-gated coupons: the coupon form's gate, personal codes)
from .memberships import admin_bundles, admin_trials  # noqa: E402, F401  (community bundles, trial returns)
from .referrals import admin as _share_admin  # noqa: E402, F401  (share-to-unlock campaigns, links, unlocks)
