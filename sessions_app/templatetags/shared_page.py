"""Forms on shared pages: CSRF protection without a personal token in the HTML (docs/deployment.md).

A page that viewers share (the live session page, served from one cached copy per second and
cacheable by a CDN) must not carry a CSRF token: Django's token is personal (it masks the visitor's
csrftoken cookie), so rendering it made every page personal and switched the shared cache off.
On such pages (`page_shared` in the context) `{% csrf_slot %}` renders an empty
`csrfmiddlewaretoken` input marked `data-csrf-slot`; static/js/csrf.js fills it right before the
form is sent with the browser's own csrftoken cookie (double submit: Django accepts the cookie's
secret as the token), asking `/csrf.json` (uncached, personal) first when the browser has no cookie
yet. The check itself is Django's, unchanged: the posted token must match the sender's csrftoken
cookie, which another site can neither read nor set, so a forged cross-site post is still refused
(403). On every other page the tag renders Django's own hidden input.
"""

from __future__ import annotations

from django import template
from django.middleware.csrf import get_token
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

SLOT = '<input type="hidden" name="csrfmiddlewaretoken" value="" data-csrf-slot>'


@register.simple_tag(takes_context=True)
def csrf_slot(context) -> str:
    """An empty, script-filled CSRF input on shared pages; Django's hidden input elsewhere."""
    if context.get("page_shared"):
        return mark_safe(SLOT)  # noqa: S308 (a constant)
    request = context.get("request")
    token = get_token(request) if request is not None else context.get("csrf_token", "")
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
