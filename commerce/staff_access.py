"""Staff access: the one door for back-office permissions (admin actions, custom admin views, staff pages).

Every admin action names its permission with `@admin.action(permissions=[...])` and the ModelAdmin
answers `has_<name>_permission` through `perm_check(...)`; every custom admin view and staff page
outside the admin is wrapped in `staff_permission_required(...)`. Both record the permissions they
need (`.staff_permissions`), which the generated test (tests/test_staff_access.py) reads to prove that
a staff user without them is refused and nothing changes. Roles (groups) are in `commerce.staff_roles`;
the table is in docs/staff-roles.md.

Refusals: an anonymous or non-staff visitor is sent to the admin login; a logged-in staff user without
the permission gets 403 (PermissionDenied).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import stripe
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError
from django.http import Http404
from django.shortcuts import redirect


def has_staff_perms(user, perms: Iterable[str]) -> bool:
    """True when `user` is an active staff member holding every permission in `perms` ("app.codename")."""
    return bool(user and user.is_active and user.is_staff and user.has_perms(list(perms)))


def perm_check(*perms: str) -> Callable:
    """A `has_<name>_permission(self, request)` method for a ModelAdmin: the user needs every one of `perms`.

    Use it for the names given to `@admin.action(permissions=[...])`:
    `has_refund_permission = perm_check("commerce.refund_order")`.
    """
    if not perms or not all("." in p for p in perms):
        raise ValueError("perm_check needs permissions written as 'app_label.codename'.")

    def method(self, request, obj=None) -> bool:
        return has_staff_perms(request.user, perms)

    method.staff_permissions = tuple(perms)
    return method


def staff_permission_required(*perms: str) -> Callable:
    """Decorate a staff view (function or ModelAdmin method): login as staff, then every one of `perms`, else 403.

    Anonymous and non-staff users are redirected to the admin login (as `staff_member_required` does);
    logged-in staff without the permissions get PermissionDenied (403), so nothing runs.
    """
    if not perms or not all("." in p for p in perms):
        raise ValueError("staff_permission_required needs permissions written as 'app_label.codename'.")

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            request = args[1] if len(args) > 1 and not hasattr(args[0], "META") else args[0]
            if not has_staff_perms(request.user, perms):
                raise PermissionDenied
            return view(*args, **kwargs)

        wrapped.staff_permissions = tuple(perms)
        return wrapped

    return decorator


def staff_page(*perms: str) -> Callable:
    """A staff page outside the admin: staff login (redirect to it), then the permissions (403)."""

    def decorator(view):
        checked = staff_permission_required(*perms)(view)
        page = staff_member_required(checked)
        page.staff_permissions = tuple(perms)
        return page

    return decorator


# --- dj-stripe's admin: superusers only ---------------------------------------------------------


class SuperuserOnlyAdminMixin:
    """dj-stripe's models in the admin are for superusers only: hidden and refused (403) for other staff.

    Its custom action URL (`action/<action>/<model>/`) is also refused for non-superusers and answers
    404 for an action or model it does not know instead of a 500.
    """

    @staticmethod
    def _is_superuser(request) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request):
        return self._is_superuser(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._is_superuser(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return self._is_superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return self._is_superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_superuser(request) and super().has_delete_permission(request, obj)

    def has_superuser_permission(self, request):
        return self._is_superuser(request)

    has_superuser_permission.staff_permissions = ("superuser",)

    def get_actions(self, request):
        if not self._is_superuser(request):
            return {}
        return super().get_actions(request)

    def get_urls(self):
        urls = super().get_urls()
        for pattern in urls:
            callback = pattern.callback
            if getattr(callback, "staff_permissions", None):
                continue
            pattern.callback = _superuser_only(callback, model_admin=self)
        return urls


def _superuser_only(view, *, model_admin):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not (request.user.is_active and request.user.is_superuser):
            raise PermissionDenied
        action = kwargs.get("action_name")
        if action is None:
            return view(request, *args, **kwargs)
        # dj-stripe's confirm-action view looks the action and model up by name and calls Stripe:
        # unknown names are 404, a bare GET goes back to the list, Stripe errors become a message (never a 500)
        opts = model_admin.opts
        if action not in model_admin.get_actions(request) or kwargs.get("model_name") != opts.model_name:
            raise Http404("No such action.")
        changelist = redirect(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        if request.method != "POST":
            return changelist
        try:
            return view(request, *args, **kwargs)
        except (stripe.StripeError, CommandError, ValueError, LookupError) as exc:
            messages.error(request, f"Stripe sync failed: {exc}")
            return changelist

    wrapped.staff_permissions = ("superuser",)
    return wrapped


def lock_down_app(site: admin.AdminSite, app_label: str, *, no_add: tuple[str, ...] = ()) -> None:
    """Re-register every ModelAdmin of `app_label` on `site` behind SuperuserOnlyAdminMixin.

    `no_add`: model names whose add form is refused to everyone (made another way, e.g. a command).
    """
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != app_label or isinstance(model_admin, SuperuserOnlyAdminMixin):
            continue
        cls = type(model_admin)
        attrs = {}
        if model._meta.model_name in no_add:
            attrs["has_add_permission"] = lambda self, request, *args: False
        locked = type(f"SuperuserOnly{cls.__name__}", (SuperuserOnlyAdminMixin, cls), attrs)
        site.unregister(model)
        site.register(model, locked)


def view_on_site(request, content_type_id: str, object_id: str):
    """The admin's "View on site" shortcut (`/admin/r/<content type>/<id>/`), behind the access policy.

    Django's own shortcut checks only that the user is staff, so any staff account could walk ids and be
    redirected to buyers' private links (order, pickup pass, sample request, offer). Here: the user needs
    the model's view permission, and a model whose page is a private link (`private_link = True`) is
    never redirected to: 404, exactly like an object that does not exist. Otherwise Django's shortcut runs.
    """
    from django.contrib.contenttypes.models import ContentType
    from django.contrib.contenttypes.views import shortcut

    try:
        model = ContentType.objects.get_for_id(int(content_type_id)).model_class()
    except (ContentType.DoesNotExist, ValueError, OverflowError):
        raise Http404 from None
    if model is None or getattr(model, "private_link", False):
        raise Http404
    opts = model._meta
    if not request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
        raise PermissionDenied
    return shortcut(request, content_type_id, object_id)

