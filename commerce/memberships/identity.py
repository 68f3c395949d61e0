"""Which membership a browser or an API caller proves: the member pass.

A member proves membership with their pass token (Membership.pass_token, a secret): in a browser as the
signed `mm_member` cookie, set when the subscription completes or when the member opens the magic link
e-mailed to them; through the partner API as the `member_pass` field. An e-mail address alone is never
proof (anyone can type a member's address).
"""

from __future__ import annotations

import datetime as dt

from django.core import signing

from .models import Membership

MEMBER_COOKIE = "mm_member"
MEMBER_COOKIE_SALT = "commerce.memberships.pass"
MEMBER_COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap cookies at 400 days


def membership_for_pass(pass_token: str | None, *, now: dt.datetime) -> Membership | None:
    """The membership whose pass is `pass_token` if it grants access at `now` (Membership.grants_access), else None."""
    if not pass_token or not isinstance(pass_token, str) or len(pass_token) > 64:
        return None
    membership = Membership.objects.select_related("plan", "customer").filter(pass_token=pass_token).first()
    if membership is None or not membership.grants_access(now):
        return None
    return membership


def member_pass_from_request(request) -> str | None:
    """The pass token in the request's signed `mm_member` cookie, or None (absent or tampered)."""
    try:
        return request.get_signed_cookie(MEMBER_COOKIE, default=None, salt=MEMBER_COOKIE_SALT)
    except signing.BadSignature:
        return None


def membership_from_request(request, *, now: dt.datetime) -> Membership | None:
    """The membership the browser proves with its `mm_member` cookie, if it grants access at `now`."""
    return membership_for_pass(member_pass_from_request(request), now=now)


def member_cookie_set(response, membership: Membership) -> None:
    """Set the signed `mm_member` cookie (HttpOnly, SameSite=Lax, Secure when the site is HTTPS)."""
    from django.conf import settings

    response.set_signed_cookie(
        MEMBER_COOKIE,
        membership.pass_token,
        salt=MEMBER_COOKIE_SALT,
        max_age=MEMBER_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
