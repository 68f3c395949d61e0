from django import template
from django.utils import timezone

from ..forms import MicroForm
from ..selectors import campaigns_for_session

register = template.Library()


@register.inclusion_tag("sampling/_microforms.html", takes_context=True)
def sample_microforms(context, session):
    """{% sample_microforms session %}: the micro-form of each open campaign shown on this session page."""
    campaigns = campaigns_for_session(session=session, now=timezone.now())
    return {
        "forms": [MicroForm(campaign=c, initial={"session": session.public_id}) for c in campaigns],
        "csrf_token": context.get("csrf_token"),
        "request": context.get("request"),
        # on the shared session page the token arrives by script (sessions_app/templatetags/shared_page.py)
        "page_shared": context.get("page_shared", False),
        "session": session,
    }
