"""The first-party visitor cookie: an anonymous id on every storefront request."""

from __future__ import annotations

import re
import uuid

from django.conf import settings

COOKIE = "mm_vid"
REMEMBERED_EMAIL_COOKIE = "mm_email"  # signed; set by the storefront's buy form (commerce.views)
MAX_AGE = 365 * 86400
_VALID = re.compile(r"[0-9a-f]{32}")


def is_visitor_id(value: str | None) -> bool:
    """True when `value` is a well-formed visitor id (the `mm_vid` cookie: 32 lowercase hex)."""
    return bool(value) and _VALID.fullmatch(value) is not None  # not .match: "$" lets a trailing newline in


_SKIP_PREFIXES = ("/static/", "/media/", "/admin/", "/api/", "/stripe/")


class VisitorMiddleware:
    """Sets `request.visitor_id` from the `mm_vid` cookie, issuing a new id when absent or invalid.

    The cookie is first-party, HttpOnly, SameSite=Lax, one year. A logout (the request was
    authenticated and no longer is) starts a new visitor. Static, media, admin, API and Stripe
    paths get no cookie (nor do responses the same for everyone, such as the live-status JSON:
    sessions_app.pagecache strips their cookies), and neither does an error answer (4xx, 5xx): a
    browser's own /favicon.ico 404 or a poll of a deleted session is no visit, and its cookie would
    replace the one the page's view beacon is issuing at the same moment (two ids for one visit). An
    error answer that exists to hand the cookie out says so with `response.issue_visitor_cookie = True`
    (the share link's 409 `share_visitor_required`, after which share.js asks again).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        skip = request.path.startswith(_SKIP_PREFIXES)
        current = request.COOKIES.get(COOKIE, "")
        fresh = not skip and not is_visitor_id(current)
        request.visitor_id = None if skip else (uuid.uuid4().hex if fresh else current)
        was_authenticated = _authenticated(request)
        response = self.get_response(request)
        if was_authenticated and not _authenticated(request):  # a logout (the admin's too)
            request.visitor_id, fresh = uuid.uuid4().hex, True
        # an error answer that exists to hand out the cookie says so (`issue_visitor_cookie`: the share
        # link's 409 `share_visitor_required`, after which share.js asks again)
        answers = response.status_code < 400 or getattr(response, "issue_visitor_cookie", False)
        issue = fresh and answers and not getattr(response, "shared", False)
        if issue:  # shared: the same for everyone (pagecache)
            _set_visitor_cookie(response, request.visitor_id)
        return response


def _set_visitor_cookie(response, visitor_id: str) -> None:
    response.set_cookie(
        COOKIE,
        visitor_id,
        max_age=MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=getattr(settings, "SESSION_COOKIE_SECURE", False),
    )


def visitor_start_new(request, response) -> str:
    """Give this browser a new anonymous visitor id ("not you?"); returns it.

    The old id keeps its history (and its link to a customer); from now on this browser's views,
    clicks and carts count for the new visitor only. Also forgets the remembered e-mail
    (commerce.views.REMEMBERED_EMAIL_COOKIE) and the member pass (the signed `mm_member` cookie,
    docs/members-only.md): on a shared device the next person is not the member.
    """
    from commerce.memberships.identity import MEMBER_COOKIE

    request.visitor_id = uuid.uuid4().hex
    _set_visitor_cookie(response, request.visitor_id)
    response.delete_cookie(REMEMBERED_EMAIL_COOKIE, samesite="Lax")
    response.delete_cookie(MEMBER_COOKIE, samesite="Lax")
    return request.visitor_id


def _authenticated(request) -> bool:
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        # no session: nobody is logged in, and not touching the session keeps anonymous responses
        # (the status JSON a CDN may cache) free of `Vary: Cookie`
        return False
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)
