"""Back office for pop-up pickup: pop-ups, slots (bulk rule, edit, close, capacity at a glance), bookings."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from .audit import admin_action_logged
from .exceptions import CommerceError
from .forms_pickup import SlotRuleForm
from .models import PickupBooking, PickupSlot, PopUp
from .selectors_pickup import slot_label
from .services import pickup as pickup_services
from .staff_access import perm_check, staff_permission_required
from .zoned_fields import LocalDateTimeField


class PickupSlotInline(admin.TabularInline):
    model = PickupSlot
    fields = ["local_time", "capacity", "used_of_capacity", "closed", "price_adjust_percent"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["starts_at"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Local time")
    def local_time(self, obj):
        return slot_label(obj)

    @admin.display(description="Used")
    def used_of_capacity(self, obj):
        return _usage(obj)


def _usage(slot: PickupSlot):
    pct = int(100 * slot.used / slot.capacity) if slot.capacity else 100
    return format_html(
        '{} / {} <span style="display:inline-block;width:60px;height:6px;background:#eee;vertical-align:middle">'
        '<span style="display:block;height:6px;width:{}%;background:#5b3df5"></span></span>',
        slot.used,
        slot.capacity,
        pct,
    )


@admin.register(PopUp)
class PopUpAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone", "starts_on", "ends_on", "partner", "slot_count", "places_used", "staff_links"]
    list_filter = ["timezone", "partner"]
    search_fields = ["name", "address"]
    filter_horizontal = ["sessions"]
    inlines = [PickupSlotInline]
    readonly_fields = ["generate_link"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "timezone" in form.base_fields:
            form.base_fields["timezone"].help_text = (
                "IANA zone of the pop-up's address (e.g. America/New_York). Its slot times are typed and shown "
                "in this zone, on the admin forms and on buyers' pages and passes."
            )
        return form

    @admin.display(description="Slots")
    def slot_count(self, obj):
        return obj.slots.count()

    @admin.display(description="Places used")
    def places_used(self, obj):
        slots = list(obj.slots.values_list("capacity", "available"))
        return f"{sum(c - a for c, a in slots)} / {sum(c for c, _ in slots)}"

    @admin.display(description="")
    def staff_links(self, obj):
        return format_html(
            '<a href="{}">Generate slots</a> · <a href="{}">No-shows</a>',
            reverse("admin:commerce_popup_generate", args=[obj.pk]),
            reverse("commerce:pickup_no_shows", args=[obj.pk]),
        )

    @admin.display(description="Slots from a rule")
    def generate_link(self, obj):
        if not obj.pk:
            return "Save the pop-up first."
        return format_html(
            '<a class="button" href="{}">Generate slots…</a>', reverse("admin:commerce_popup_generate", args=[obj.pk])
        )

    def get_urls(self):
        return [
            path(
                "<id:popup_id>/generate/",
                self.admin_site.admin_view(self.generate_view),
                name="commerce_popup_generate",
            ),
            *super().get_urls(),
        ]

    @staff_permission_required("commerce.add_pickupslot")
    def generate_view(self, request, popup_id: int):
        """Bulk-create slots: every N minutes from HH:MM to HH:MM local on chosen dates, with a capacity."""
        popup = get_object_or_404(PopUp, pk=popup_id)
        form = SlotRuleForm(request.POST or None, popup=popup)
        if request.method == "POST" and form.is_valid():
            try:
                result = pickup_services.pickup_slots_generate(popup_id=popup.pk, **form.rule())
            except CommerceError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Created {len(result.created)} slot(s).", messages.SUCCESS)
                if result.existing:
                    self.message_user(request, f"{len(result.existing)} already existed and were kept.", messages.INFO)
                if result.nonexistent:
                    self.message_user(
                        request,
                        "Skipped times that do not exist on a DST change day: " + ", ".join(result.nonexistent),
                        messages.WARNING,
                    )
                return redirect("admin:commerce_popup_change", popup.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Generate pickup slots · {popup.name}",
            "popup": popup,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "commerce/pickup/admin_generate.html", context)


class PickupSlotForm(forms.ModelForm):
    """A slot's start and end are typed and shown in its pop-up's zone (not the shop's)."""

    starts_at = LocalDateTimeField(zone=settings.SHOP_TIMEZONE, label="Starts")
    ends_at = LocalDateTimeField(zone=settings.SHOP_TIMEZONE, label="Ends")

    class Meta:
        model = PickupSlot
        fields = ["popup", "starts_at", "ends_at", "capacity", "closed", "price_adjust_percent"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        popup = self._popup()
        zone = popup.timezone if popup else settings.SHOP_TIMEZONE
        for name in ("starts_at", "ends_at"):
            self.fields[name].set_zone(zone)
            self.fields[name].help_text = (
                f"Local date and time at the pop-up, in {zone}."
                if popup
                else "Local date and time at the pop-up, in the pop-up's own timezone."
            )

    def _popup(self) -> PopUp | None:
        """The slot's pop-up: the instance's, or the one chosen in the submitted/initial add form."""
        if self.instance.pk:
            return self.instance.popup
        chosen = self.data.get("popup") or self.initial.get("popup")
        try:
            return PopUp.objects.filter(pk=int(getattr(chosen, "pk", chosen))).first() if chosen else None
        except (TypeError, ValueError):
            return None

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "A slot must end after it starts.")
        if self.instance.pk and data.get("capacity") is not None and data["capacity"] < self.instance.used:
            self.add_error("capacity", f"{self.instance.used} places are already booked or held.")
        return data


@admin.register(PickupSlot)
class PickupSlotAdmin(admin.ModelAdmin):
    form = PickupSlotForm
    list_display = ["local_time", "popup", "capacity", "usage", "available", "closed", "price_adjust_percent"]
    list_filter = ["closed", "popup"]
    list_select_related = ["popup"]
    search_fields = ["popup__name"]
    date_hierarchy = "starts_at"
    actions = ["close", "reopen"]

    has_close_permission = perm_check("commerce.change_pickupslot")

    @admin.display(description="Local time", ordering="starts_at")
    def local_time(self, obj):
        return slot_label(obj)

    @admin.display(description="Used")
    def usage(self, obj):
        return _usage(obj)

    def get_readonly_fields(self, request, obj=None):
        return ["popup"] if obj else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            obj.available = obj.capacity
            obj.save()
            return
        try:
            pickup_services.pickup_slot_update(
                slot_id=obj.pk,
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                capacity=data["capacity"],
                closed=data["closed"],
                price_adjust_percent=data["price_adjust_percent"],
            )
        except CommerceError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Close selected slots (no new bookings)", permissions=["close"])
    def close(self, request, queryset):
        slots = [pickup_services.pickup_slot_update(slot_id=slot.pk, closed=True) for slot in queryset]
        admin_action_logged(request, slots, "Closed (admin action).")
        self.message_user(request, f"Closed {len(slots)} slot(s).", messages.SUCCESS)

    @admin.action(description="Reopen selected slots", permissions=["close"])
    def reopen(self, request, queryset):
        slots = [pickup_services.pickup_slot_update(slot_id=slot.pk, closed=False) for slot in queryset]
        admin_action_logged(request, slots, "Reopened (admin action).")
        self.message_user(request, f"Reopened {len(slots)} slot(s).", messages.SUCCESS)


class NoShowFilter(admin.SimpleListFilter):
    title = "pickup"
    parameter_name = "pickup"

    def lookups(self, request, model_admin):
        return [("checked_in", "Checked in"), ("no_show", "No-show (slot ended)"), ("upcoming", "Not yet")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "checked_in":
            return queryset.filter(checked_in_at__isnull=False)
        if self.value() == "no_show":
            return queryset.filter(checked_in_at__isnull=True, cancelled_at__isnull=True, slot__ends_at__lte=now)
        if self.value() == "upcoming":
            return queryset.filter(checked_in_at__isnull=True, slot__ends_at__gt=now)
        return queryset


@admin.register(PickupBooking)
class PickupBookingAdmin(admin.ModelAdmin):
    list_display = [
        "order",
        "email",
        "slot",
        "checked_in_at",
        "checked_in_by_label",
        "reminder_sent_at",
        "cancelled_at",
    ]
    list_filter = [NoShowFilter, "slot__popup"]
    search_fields = ["order__number", "order__customer__email"]
    list_select_related = ["order__customer", "slot__popup"]
    readonly_fields = [
        "order",
        "slot",
        "pass_version",
        "checked_in_at",
        "checked_in_by",
        "checked_in_by_label",
        "reminder_sent_at",
        "no_show_messaged_at",
        "cancelled_at",
        "created_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    @admin.display(description="E-mail", ordering="order__customer__email")
    def email(self, obj):
        return obj.order.customer.email

    @admin.display(description="Pass")
    def pass_link(self, obj):
        return format_html('<a href="{}" target="_blank">open</a>', obj.get_absolute_url())
