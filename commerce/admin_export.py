"""The order list's CSV export: an admin action (the ticked orders) and a list-page button (the filtered list).

Both need `commerce.export_order` (declared: `permissions=["export"]` on the action, and
`staff_permission_required` on the button's view) and stream `commerce.exports.order_export_rows`.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone

from .exports import csv_lines, order_export_rows
from .staff_access import has_staff_perms, perm_check, staff_permission_required

EXPORT_PERMISSION = "commerce.export_order"


def _csv_response(queryset) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(order_export_rows(queryset)), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
    return response


class OrderExportMixin:
    """Adds the "Export as CSV" action and the list page's "Export CSV" button (same filters as the list)."""

    change_list_template = "admin/commerce/order/change_list.html"

    has_export_permission = perm_check(EXPORT_PERMISSION)

    @admin.action(description="Export selected orders as CSV (with lines)", permissions=["export"])
    def export_csv(self, request, queryset):
        return _csv_response(queryset.order_by("created_at", "pk"))

    def get_urls(self):
        opts = self.model._meta
        custom = [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            )
        ]
        return custom + super().get_urls()

    @staff_permission_required(EXPORT_PERMISSION)
    def export_view(self, request):
        """GET: the orders the list page shows with the same filters, search and date drill-down, as CSV."""
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            opts = self.model._meta
            return redirect(f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_changelist')}?e=1")
        return _csv_response(changelist.get_queryset(request).order_by("created_at", "pk"))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_export": has_staff_perms(request.user, [EXPORT_PERMISSION])}
        return super().changelist_view(request, extra_context)
