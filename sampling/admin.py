"""Back office for sampling: campaigns (with KPIs and segment reach), requests, the review queue, 3PL files."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from commerce.admin_money import MoneyAdminMixin
from commerce.audit import admin_action_logged
from commerce.money import format_money
from commerce.staff_access import perm_check, staff_permission_required

from .exceptions import SamplingError
from .models import ReviewQueueItem, SampleCampaign, SampleRequest, SampleRequestEvent
from .selectors import campaign_kpis, segment_reach
from .services import campaigns as campaign_services
from .services import requests as request_services
from .services.shipping import TrackingFileError, shipments_export_csv, tracking_import


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class SampleCampaignForm(forms.ModelForm):
    class Meta:
        model = SampleCampaign
        fields = [
            "name",
            "slug",
            "sku",
            "series",
            "session",
            "description",
            "is_active",
            "opens_at",
            "closes_at",
            "quantity",
            "unit_cost_minor",
            "declared_value_minor",
            "currency",
            "fulfilment_partner",
            "use_cases",
            "purchase_rule",
            "require_attended",
            "require_clicked",
            "allowed_use_cases",
            "preferred_use_cases",
            "countries",
            "accept_min_score",
            "address_hours",
            "vetting_threshold",
            "offer_percent_off",
            "offer_hours_after",
        ]

    def clean(self):
        data = super().clean()
        if data.get("opens_at") and data.get("closes_at") and data["closes_at"] <= data["opens_at"]:
            self.add_error("closes_at", "A campaign must close after it opens.")
        use_cases = data.get("use_cases") or []
        if not isinstance(use_cases, list) or not use_cases or not all(isinstance(u, str) and u for u in use_cases):
            self.add_error("use_cases", 'Give the choices as a JSON list of words, e.g. ["Everyday wear", "A gift"].')
        for name in ("allowed_use_cases", "preferred_use_cases"):
            extra = set(data.get(name) or []) - set(use_cases if isinstance(use_cases, list) else [])
            if extra:
                self.add_error(name, f"Not among the use cases: {', '.join(sorted(extra))}.")
        countries = data.get("countries") or []
        if not isinstance(countries, list) or not all(isinstance(c, str) and len(c) == 2 for c in countries):
            self.add_error("countries", 'Give ISO country codes as a JSON list, e.g. ["DE", "AT"].')
        else:
            data["countries"] = [c.upper() for c in countries]
        if self.instance.pk and data.get("quantity") is not None:
            reserved = self.instance.quantity - self.instance.available
            if data["quantity"] < reserved:
                self.add_error("quantity", f"{reserved} samples are already reserved.")
        return data


@admin.register(SampleCampaign)
class SampleCampaignAdmin(MoneyAdminMixin, admin.ModelAdmin):
    form = SampleCampaignForm
    money_fields = {"unit_cost_minor": "currency", "declared_value_minor": "currency"}
    change_form_template = "admin/sampling/samplecampaign/change_form.html"
    list_display = [
        "name",
        "sku",
        "opens_at",
        "closes_at",
        "quantity",
        "available",
        "requests",
        "shipped",
        "conversion",
        "cost_per_acquired",
    ]
    list_filter = ["is_active", "series", "purchase_rule"]
    search_fields = ["name", "slug", "sku__code"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["sku"]
    readonly_fields = ["available", "reach", "kpis"]
    actions = ["offer_waitlist", "export_shipments"]

    has_offer_permission = perm_check("sampling.change_samplecampaign")
    has_export_permission = perm_check("sampling.export_samplerequest")
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "slug",
                    "sku",
                    "series",
                    "session",
                    "description",
                    "is_active",
                    "opens_at",
                    "closes_at",
                ]
            },
        ),
        (
            "Stock and money (minor units)",
            {"fields": ["quantity", "available", "unit_cost_minor", "declared_value_minor", "currency"]},
        ),
        ("Fulfilment (3PL)", {"fields": ["fulfilment_partner"]}),
        (
            "Micro-form and targeting",
            {
                "fields": [
                    "use_cases",
                    "purchase_rule",
                    "require_attended",
                    "require_clicked",
                    "allowed_use_cases",
                    "preferred_use_cases",
                    "countries",
                    "accept_min_score",
                    "reach",
                ]
            },
        ),
        ("Address step", {"fields": ["address_hours"]}),
        ("Vetting", {"fields": ["vetting_threshold"]}),
        ("Follow-up offer", {"fields": ["offer_percent_off", "offer_hours_after"]}),
        ("KPIs", {"fields": ["kpis"]}),
    ]

    def get_urls(self):
        return [
            path("reach/", self.admin_site.admin_view(self.reach_view), name="sampling_campaign_reach"),
            *super().get_urls(),
        ]

    @staff_permission_required("sampling.view_samplecampaign")
    def reach_view(self, request):
        """JSON for the reach preview: the segment in the (unsaved) form → how many known people it reaches."""
        series = request.GET.get("series") or None
        data = segment_reach(
            purchase_rule=request.GET.get("purchase_rule", SampleCampaign.PurchaseRule.ANYONE),
            require_attended=request.GET.get("require_attended") in ("1", "true", "on"),
            require_clicked=request.GET.get("require_clicked") in ("1", "true", "on"),
            series_id=int(series) if series and series.isdecimal() else None,
        )
        return JsonResponse(data)

    @admin.display(description="Reach (before saving)")
    def reach(self, obj):
        url = reverse("admin:sampling_campaign_reach")
        return format_html('<span data-reach-url="{}" data-reach>Change the targeting to see the reach.</span>', url)

    def _kpi(self, obj, key):
        if not hasattr(obj, "_kpis"):
            obj._kpis = campaign_kpis(campaign=obj)
        return obj._kpis[key]

    @admin.display(description="Requests")
    def requests(self, obj):
        return self._kpi(obj, "requests")

    @admin.display(description="Shipped")
    def shipped(self, obj):
        return self._kpi(obj, "shipped")

    @admin.display(description="Sample → purchase")
    def conversion(self, obj):
        value = self._kpi(obj, "conversion")
        return "—" if value is None else f"{value:.0%}"

    @admin.display(description="Cost per acquired customer")
    def cost_per_acquired(self, obj):
        value = self._kpi(obj, "cost_per_acquired_minor")
        return "—" if value is None else format_money(value, obj.currency)

    @admin.display(description="KPIs")
    def kpis(self, obj):
        if not obj.pk:
            return "Shown once the campaign is saved."
        k = campaign_kpis(campaign=obj)
        money = lambda v: "—" if v is None else format_money(v, obj.currency)  # noqa: E731
        rows = [
            ("Requests", k["requests"]),
            ("Waitlisted", k["waitlisted"]),
            ("In review", k["in_review"]),
            ("Approved", k["approved"]),
            ("Shipped", k["shipped"]),
            ("Rejected", k["rejected"]),
            ("Cancelled", k["cancelled"]),
            ("Cost (unit cost × shipped)", money(k["cost_minor"])),
            (
                "Sample → purchase (30 days)",
                "—" if k["conversion"] is None else f"{k['converted']} ({k['conversion']:.0%})",
            ),
            ("Cost per acquired customer", money(k["cost_per_acquired_minor"])),
            ("Revenue attributed (30 days)", money(k["revenue_30d_minor"])),
            ("Follow-up offers issued / redeemed", f"{k['offers_issued']} / {k['offers_redeemed']}"),
        ]
        return format_html("<table data-kpis>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = campaign_services.campaign_create(
                **{k: v for k, v in data.items() if k in {f.name for f in SampleCampaign._meta.fields}}
            )
            obj.pk, obj.available = created.pk, created.available
            return
        quantity = data["quantity"]
        obj.quantity = SampleCampaign.objects.get(pk=obj.pk).quantity  # quantity changes go through the service
        # never write `available` from the form's stale copy: requests may have taken samples meanwhile
        obj.save(update_fields=[f for f in SampleCampaignForm.Meta.fields if f != "quantity"])
        if quantity != obj.quantity:
            campaign_services.campaign_set_quantity(campaign_id=obj.pk, quantity=quantity)

    @admin.action(description="Offer remaining samples to the waitlist (best priority first)", permissions=["offer"])
    def offer_waitlist(self, request, queryset):
        total = sum(campaign_services.campaign_offer_waitlist(campaign_id=c.pk) for c in queryset)
        admin_action_logged(request, queryset, f"Offered {total} sample(s) to the waitlist (admin action).")
        self.message_user(request, f"Offered {total} sample(s) to the waitlist.", messages.SUCCESS)

    @admin.action(description="Export approved requests as 3PL CSV", permissions=["export"])
    def export_shipments(self, request, queryset):
        requests = (
            SampleRequest.objects.filter(campaign__in=queryset, status=SampleRequest.Status.APPROVED)
            .select_related("campaign__sku")
            .order_by("approved_at", "pk")
        )
        return _csv_response(shipments_export_csv(requests=requests), "sample-shipments.csv")


class EventInline(admin.TabularInline):
    model = SampleRequestEvent
    fields = ["at", "from_status", "to_status", "actor_label", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded in the audit trail and e-mailed on rejection."
    )


class TrackingUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV with request_id (or reference), tracking_number, carrier, status.")


@admin.register(SampleRequest)
class SampleRequestAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "status",
        "campaign",
        "use_case",
        "priority_score",
        "risk_score",
        "ship_country",
        "tracking_number",
        "created_at",
    ]
    list_filter = ["status", "campaign", "ship_country", "source"]
    search_fields = ["email", "email_normalized", "tracking_number", "token", "ship_name"]
    list_select_related = ["campaign"]
    date_hierarchy = "created_at"
    inlines = [EventInline]
    actions = ["approve", "reject", "cancel", "mark_delivered", "export_shipments"]
    change_list_template = "admin/sampling/samplerequest/change_list.html"

    has_review_permission = perm_check("sampling.review_samplerequest")
    has_cancel_permission = perm_check("sampling.cancel_samplerequest")
    has_ship_permission = perm_check("sampling.ship_samplerequest")
    has_export_permission = perm_check("sampling.export_samplerequest")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in SampleRequest._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "import-tracking/",
                self.admin_site.admin_view(self.import_tracking_view),
                name="sampling_samplerequest_import_tracking",
            ),
            *super().get_urls(),
        ]

    @staff_permission_required("sampling.ship_samplerequest")
    def import_tracking_view(self, request):
        """Upload the 3PL's tracking CSV; all-or-nothing with a per-row report."""
        form = TrackingUploadForm(request.POST or None, request.FILES or None)
        report = file_error = None
        if request.method == "POST" and form.is_valid():
            try:
                report = tracking_import(data=form.cleaned_data["file"].read(), actor=request.user)
            except TrackingFileError as exc:
                file_error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "report": report,
            "file_error": file_error,
            "opts": self.opts,
            "title": "Import tracking numbers",
        }
        return TemplateResponse(request, "admin/sampling/import_tracking.html", context)

    def _run(self, request, queryset, fn, verb):
        done = []
        for req in queryset:
            try:
                fn(req)
                done.append(req)
            except SamplingError as exc:
                self.message_user(request, f"{req}: {exc.message}", messages.WARNING)
        admin_action_logged(request, done, f"{verb} (admin action).")
        if done:
            self.message_user(request, f"{verb} {len(done)} request(s).", messages.SUCCESS)

    def _with_reason(self, request, queryset, fn, verb, action):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                self._run(request, queryset, lambda r: fn(r, form.cleaned_data["reason"]), verb)
                return None
        else:
            form = ReasonForm()
        return render(
            request,
            "admin/sampling/reason.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "queryset": queryset,
                "action": action,
                "title": f"{verb}: give a reason",
                "opts": self.opts,
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            },
        )

    @admin.action(description="Approve (from the review queue)", permissions=["review"])
    def approve(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda r: request_services.sample_request_approve(request_id=r.pk, actor=request.user),
            "Approved",
        )

    @admin.action(description="Reject with a reason", permissions=["review"])
    def reject(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            lambda r, reason: request_services.sample_request_reject(
                request_id=r.pk, reason=reason, actor=request.user
            ),
            "Rejected",
            "reject",
        )

    @admin.action(description="Cancel with a reason", permissions=["cancel"])
    def cancel(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            lambda r, reason: request_services.sample_request_cancel(
                request_id=r.pk, reason=reason, actor=request.user
            ),
            "Cancelled",
            "cancel",
        )

    @admin.action(description="Mark delivered", permissions=["ship"])
    def mark_delivered(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda r: request_services.sample_request_mark_delivered(request_id=r.pk, actor=request.user),
            "Marked delivered",
        )

    @admin.action(description="Export approved as 3PL CSV", permissions=["export"])
    def export_shipments(self, request, queryset):
        requests = (
            queryset.filter(status=SampleRequest.Status.APPROVED)
            .select_related("campaign__sku")
            .order_by("approved_at", "pk")
        )
        return _csv_response(shipments_export_csv(requests=requests), "sample-shipments.csv")


@admin.register(ReviewQueueItem)
class ReviewQueueAdmin(SampleRequestAdmin):
    list_display = [
        "email",
        "campaign",
        "risk_score",
        "risk_signals",
        "ship_country",
        "geo_country",
        "ip",
        "created_at",
    ]
    list_filter = ["campaign"]
    actions = ["approve", "reject"]
    change_list_template = None

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status=SampleRequest.Status.REVIEW)
            .order_by("-risk_score", "created_at")
        )

    def get_urls(self):
        return admin.ModelAdmin.get_urls(self)

    @admin.display(description="Risk signals")
    def risk_signals(self, obj):
        return ", ".join(obj.risk_reasons)
