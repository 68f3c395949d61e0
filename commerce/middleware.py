"""Staff see and enter times in the shop's timezone (settings.SHOP_TIMEZONE) in the back office."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.utils import timezone


class ShopTimezoneMiddleware:
    """Activate SHOP_TIMEZONE for /admin/ requests; viewers' pages stay UTC-stored, shown per session zone."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.tz = zoneinfo.ZoneInfo(settings.SHOP_TIMEZONE)

    def __call__(self, request):
        if request.path.startswith("/admin/"):
            timezone.activate(self.tz)
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
        return self.get_response(request)
