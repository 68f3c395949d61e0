"""The control room page and its counters JSON (admin URLs: LiveSessionAdmin via admin.ControlRoomAdminMixin).

Opening the page needs `sessions_app.control_livesession`; each action needs its own permission on top
(ACTION_PERMISSIONS), else 403 and nothing changes. Actions are POST forms (CSRF), answered with a
redirect back to the page (a reload cannot repeat them) and a message; each is audited twice: the
service's writes by django-auditlog, and a History entry on the session (admin LogEntry).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from commerce.audit import admin_action_logged
from commerce.models import Drop
from commerce.staff_access import has_staff_perms, staff_permission_required

from ..models import LiveSession
from . import services
from .forms import DropChoiceForm, FlashCouponForm
from .selectors import control_room_counters

VIEW_PERMISSION = "sessions_app.control_livesession"
GOLIVE = ("sessions_app.golive_livesession",)
DROPS = ("commerce.change_drop",)
COUPONS = ("commerce.add_coupon",)
ACTION_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "go_live": GOLIVE,
    "end": GOLIVE,
    "pin": DROPS,
    "open": DROPS,
    "close": DROPS,
    "flash": COUPONS,
}
POLL_MS = 1500


def _session_or_404(session_id: int) -> LiveSession:
    session = LiveSession.objects.select_related("format", "series").filter(pk=session_id).first()
    if session is None:
        raise Http404("No such session.")
    return session


@staff_permission_required(VIEW_PERMISSION)
def control_counters(request, session_id: int):
    """The live counters as JSON (selectors.control_room_counters), for the page's poll. Never cached."""
    try:
        data = control_room_counters(session_id, timezone.now())
    except LiveSession.DoesNotExist:
        raise Http404("No such session.") from None
    response = JsonResponse(data)
    response["Cache-Control"] = "no-store, private"
    return response


@staff_permission_required(VIEW_PERMISSION)
def control_room(request, session_id: int, *, admin_site=None):
    """GET: the page. POST `action` (go_live | end | pin | open | close | flash) + its fields: run it, redirect back."""
    session = _session_or_404(session_id)
    drops = list(Drop.objects.filter(session_id=session.pk).with_total_available().order_by("opens_at", "pk"))
    flash_form = FlashCouponForm()
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ACTION_PERMISSIONS:
            messages.error(request, "Unknown action.")
            return redirect(request.path)
        if not has_staff_perms(request.user, ACTION_PERMISSIONS[action]):
            raise PermissionDenied
        flash_form = FlashCouponForm(request.POST) if action == "flash" else flash_form
        done = _run(request, action, session, drops, flash_form)
        if done is not None:
            return redirect(request.path)
    context = {
        **(admin_site.each_context(request) if admin_site else {}),
        "title": f"Control room: {session.title}",
        "session": session,
        "counters": control_room_counters(session.pk, timezone.now()),
        "flash_form": flash_form,
        "poll_ms": POLL_MS,
        "counters_url": reverse("admin:sessions_app_livesession_control_counters", args=[session.pk]),
        "can": {name: has_staff_perms(request.user, perms) for name, perms in ACTION_PERMISSIONS.items()},
    }
    return TemplateResponse(request, "sessions_app/control/room.html", context)


def _run(request, action: str, session: LiveSession, drops, flash_form) -> bool | None:
    """Run one action; True when it ran or failed with a message (redirect), None to re-render the form."""
    try:  # no `now=`: each service reads the clock under its lock
        if action == "go_live":
            services.control_go_live(session_id=session.pk)
            done = "Went live."
        elif action == "end":
            services.control_end(session_id=session.pk)
            done = "Ended the session."
        elif action == "flash":
            if not flash_form.is_valid():
                return None
            coupon = services.flash_coupon_fire(session_id=session.pk, actor=request.user, **flash_form.cleaned_data)
            done = f"Flash coupon {coupon.code} fired: {coupon.percent_off:g}% until {timezone.localtime(coupon.valid_until, session.tz):%H:%M %Z}."
        else:
            form = DropChoiceForm(request.POST, drops=drops)
            if not form.is_valid():
                messages.error(request, "Choose one of this session's drops.")
                return True
            drop_id = form.cleaned_data["drop_id"]
            if action == "pin":
                services.control_pin_drop(session_id=session.pk, drop_id=drop_id, actor=request.user)
                done = "Unpinned." if drop_id is None else "Pinned: viewers see it featured."
            elif drop_id is None:
                messages.error(request, "Choose a drop.")
                return True
            elif action == "open":
                drop = services.control_open_drop(session_id=session.pk, drop_id=drop_id, actor=request.user)
                done = f"Opened {drop.display_title}."
            else:
                drop = services.control_close_drop(session_id=session.pk, drop_id=drop_id, actor=request.user)
                done = f"Closed {drop.display_title}."
    except services.ControlError as exc:
        if action == "flash" and exc.field in flash_form.fields:
            flash_form.add_error(exc.field, exc.message)
            return None
        messages.error(request, exc.message)
        return True
    admin_action_logged(request, [session], f"Control room: {done}")
    messages.success(request, done)
    return True
