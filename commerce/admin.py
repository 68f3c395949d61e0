from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from . import admin_pickup  # noqa: F401  (registers the pop-up pickup admin)
from .exceptions import CommerceError
from .models import ApiKey, Customer, Drop, Order, OrderLine, Partner, Product, Sku
from .money import format_money
from .services import api_keys, drops, orders


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
        "available",
        "sold_or_held",
        "price",
        "opens_at",
        "closes_at",
    ]
    list_filter = ["session__status", "currency", "session__series"]
    search_fields = ["title", "sku__code", "sku__product__title", "session__title"]
    list_select_related = ["sku__product", "session"]
    autocomplete_fields = ["sku", "session"]
    readonly_fields = ["available"]

    @admin.display(description="Price", ordering="price_minor")
    def price(self, obj):
        return format_money(obj.price_minor, obj.currency)

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
    readonly_fields = ["email_normalized", "created_at"]

    @admin.display(description="Orders")
    def order_count(self, obj):
        return obj.orders.count()


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ["title", "sku", "quantity", "unit_price_minor", "discount_minor", "total_minor", "currency"]
    readonly_fields = fields
    extra = 0
    can_delete = False

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
    actions = ["mark_paid", "cancel"]
    readonly_fields = [
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
        "confirmation",
    ]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Total", ordering="total_minor")
    def total(self, obj):
        return format_money(obj.total_minor, obj.currency)

    @admin.display(description="Confirmation page")
    def confirmation(self, obj):
        return format_html('<a href="{}" target="_blank">open</a>', obj.get_absolute_url())

    def _run(self, request, queryset, service, verb):
        done = 0
        for order in queryset:
            try:
                service(order_id=order.pk)
                done += 1
            except CommerceError as exc:
                self.message_user(request, f"{order}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, f"{verb} {done} order(s).", messages.SUCCESS)

    @admin.action(description="Mark paid (payment received at pickup)")
    def mark_paid(self, request, queryset):
        self._run(request, queryset, orders.order_mark_paid, "Marked paid")

    @admin.action(description="Cancel and return stock")
    def cancel(self, request, queryset):
        self._run(request, queryset, orders.order_cancel, "Cancelled")


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


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in ApiKey.SCOPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked = every read scope.",
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

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_keys.api_key_revoke(key_id=key.pk)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
