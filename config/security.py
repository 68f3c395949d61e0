"""Response security headers that depend on where a request goes.

The Content-Security-Policy itself lives in settings (`CSP_DIRECTIVES`, applied by django-csp).
This middleware adds `settings.CSP_ADMIN_EXTRA` to it for the back office only: Django's own admin
needs nothing extra, but admin templates shipped by dj-stripe and django-auditlog carry inline
`<style>` blocks. Scripts stay `'self'`-only everywhere.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.urls import reverse


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware plus the documented back-office relaxation (styles only)."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request=request, response=response, report_only=report_only)
        extra = getattr(settings, "CSP_ADMIN_EXTRA", None)
        if extra and request.path_info.startswith(reverse("admin:index")):
            update = dict(parts.update or {})
            for directive, sources in extra.items():
                update[directive] = [*update.get(directive, ()), *sources]
            parts.update = update
        return parts
