"""The CSRF token for forms on shared pages (sessions_app.templatetags.shared_page)."""

from __future__ import annotations

from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def csrf_token_json(request):
    """GET /csrf.json → {"token": "<masked CSRF token>"}; sets the csrftoken cookie when missing.

    Personal and never cached (`Cache-Control: max-age=0, no-cache, no-store, must-revalidate,
    private`). Safe to answer anyone: a token only works together with the same browser's
    csrftoken cookie, which another site can neither read nor set.
    """
    return JsonResponse({"token": get_token(request)})
