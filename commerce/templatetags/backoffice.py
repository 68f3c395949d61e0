"""Template tags of the back office's landing page (templates/admin/index.html)."""

from django import template

from commerce.admin_dashboard import dashboard

register = template.Library()


@register.simple_tag(takes_context=True)
def backoffice_dashboard(context) -> dict:
    """The panels the current staff user may see (commerce.admin_dashboard.dashboard)."""
    return dashboard(user=context["request"].user)
